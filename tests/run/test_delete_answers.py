"""A DELETE answered 404 or 405 ends the session as the protocol allows: not a failed request."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faultserver import FaultServer
from tests.run.helpers import TOOL_CALL, count, plan_from, run, target


@pytest.mark.parametrize("fault", ["delete-404", "delete-405"])
async def test_allowed_delete_answers_are_not_failed_requests(faults: FaultServer, tmp_path: Path, fault: str) -> None:
    config = {
        "target": target(faults.url(fault)),
        "flow": TOOL_CALL,
        "scenarios": {"one": {"executor": "constant-arrival-rate", "rate": 3, "duration": "1s", "preAllocatedVUs": 2}},
        "thresholds": {"http_req_failed": ["rate==0"]},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert count(results, "http_reqs{method:session/delete}") == 3
    assert results.metric("http_req_failed", "rate") == 0.0
    assert results.run.status == "passed", results.run.reason
