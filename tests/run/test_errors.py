"""What a run counts when something goes wrong: a call recovered, requests that never left, a body
that never came, a bug of our own. Each is counted once, where it happened, and no more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcpgate.support import exitcodes
from mcpgate.workload.flow import Flow
from tests.faultserver import FaultServer
from tests.run.helpers import TOOL_CALL, count, plan_from, run, target


async def test_a_recovered_call_is_not_a_failed_call(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("expire-call")),
        "flow": {**TOOL_CALL, "think_time": "20ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.6s"}},
        "thresholds": {"mcp_tool_errors": ["rate<0.01"]},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.OK, results.run.reason
    iterations = count(results, "iterations")
    assert iterations >= 3
    reinits = count(results, "mcp_session_reinit")  # every other session dies (the preflight's among them)
    assert reinits in (iterations - 1, iterations)
    assert results.metric("mcp_tool_duration", "count") == iterations  # one logical call each
    assert results.metric("mcp_tool_errors", "rate") == 0
    # Both HTTP requests of a recovered call were sent and count as requests; the 404 one failed.
    assert count(results, "http_reqs{method:tools/call}") == iterations + reinits
    assert results.metric("http_req_failed{method:tools/call}", "passes") == reinits


async def test_requests_never_sent_are_not_counted(faults: FaultServer, tmp_path: Path) -> None:
    before = faults.counts["expire-for-good:calls"]
    config = {
        "target": target(faults.url("expire-for-good")),
        "flow": {**TOOL_CALL, "think_time": "20ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.5s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    sent = faults.counts["expire-for-good:calls"] - before
    assert count(results, "http_reqs{method:tools/call}") == sent
    assert results.metric("mcp_tool_errors", "rate") == 1.0
    fastest = results.metric("mcp_tool_duration", "min")
    assert fastest is None or fastest > 0  # no 0 ms samples from requests that never left


async def test_timeouts_after_headers_are_failed_http_requests(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": {**target(faults.url("stall-body")), "timeout": "300ms"},
        "flow": TOOL_CALL,
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.5s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.metric("http_req_failed{method:tools/call}", "rate") == 1.0
    assert count(results, "mcp_errors_timeout") >= 1


async def test_a_bug_inside_a_vu_is_reported_not_swallowed(
    faults: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Flow.iteration
    calls = {"n": 0}

    async def flaky(self: Flow, vu: Any, rec: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated bug")
        await original(self, vu, rec)

    monkeypatch.setattr(Flow, "iteration", flaky)
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "20ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "1.5s"}},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert count(results, "internal_errors") == 1
    assert count(results, "iterations") >= 3  # the VU went on after the bug
    internal = [e for e in results.errors if e.kind == "internal_error"]
    assert internal
    assert internal[0].samples[0].reason == "RuntimeError: simulated bug"
    assert "internal_error" in text
