"""The Action with OAuth inputs, as a runner runs it: the client secret masked first, then a clean run."""

from __future__ import annotations

from pathlib import Path

from mcpgate.support import exitcodes
from tests.action.test_action import action
from tests.parts.oauth import CLIENT_ID, CLIENT_SECRET, Protected, protected  # noqa: F401


async def test_client_credentials_through_the_action(tmp_path: Path, protected: Protected) -> None:  # noqa: F811
    inputs = {
        "INPUT_URL": protected.url,
        "INPUT_PROFILE": "smoke",
        "INPUT_DURATION": "2s",
        "INPUT_VUS": "2",
        "INPUT_WORKERS": "1",
        "INPUT_AUTH": "client_credentials",
        "INPUT_CLIENT-ID": CLIENT_ID,
        "INPUT_CLIENT-SECRET": CLIENT_SECRET,
        "INPUT_TOOLS": 'get_record: 1 {"id": "rec_{{ vu }}"}',
        "INPUT_THRESHOLDS": "mcp_auth_errors: count<1\nchecks: rate==1",
        "INPUT_FAIL-ON-THRESHOLDS": "true",
        "INPUT_SUMMARY": "true",
    }
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    assert run.stdout.splitlines()[0] == f"::add-mask::{CLIENT_SECRET}"  # masked before anything else
    assert run.outputs["passed"] == "true"
    assert float(run.outputs["error-rate"]) == 0
    assert "mcp_auth_errors" in run.summary
    tokens = [str(r["token"]) for r in protected.auth.requests() if r.get("token")]
    assert tokens
    seen = run.artefacts()
    for secret in (CLIENT_SECRET, *tokens):
        assert secret not in seen
