"""``mcpgate probe`` as users run it: a subprocess, its output, its exit code."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from mcpgate.support import exitcodes
from tests.conftest import PeerFactory
from tests.faultserver import FaultServer


async def mcpgate(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpgate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_probe_json_against_the_sdk(peer: PeerFactory) -> None:
    code, out, err = await mcpgate(
        "probe", peer("stateful-sse"), "--json", "--call", "search_records", "--args", '{"query": "test", "limit": 3}'
    )
    assert code == exitcodes.OK, err
    report = json.loads(out)
    assert report["ok"] is True
    assert (report["transport"], report["protocol_version"]) == ("streamable-http", "2026-07-28")
    assert report["server_info"]["name"] == "mcpgate-example"
    assert set(report["tools"]) >= {"fetch_external_data", "get_record", "search_records"}
    steps = report["steps"]
    assert [s["method"] for s in steps] == ["server/discover", "tools/list", "tools/call"]
    for step in steps:
        assert set(step) >= {"method", "http_status", "duration_ms", "outcome", "reason"}
        assert (step["http_status"], step["outcome"]) == (200, "ok")
        assert step["duration_ms"] > 0
    # search_records works 20 ms on the server in the tests: the timing must show it.
    assert steps[2]["duration_ms"] >= 20


async def test_probe_text_reports_each_step(peer: PeerFactory) -> None:
    code, out, _ = await mcpgate("probe", peer("stateful-json"), "--protocol-version", "2025-11-25")
    assert code == exitcodes.OK
    lines = out.splitlines()
    assert lines[0] == f"mcpgate probe {peer('stateful-json')}"
    assert any(line.strip().startswith("✓ initialize") for line in lines)
    assert any(line.strip().startswith("✓ session/delete") for line in lines)
    assert lines[-1].startswith("ok: 4 steps in ")


async def test_failure_is_the_last_line_and_exit_1(faults: FaultServer) -> None:
    code, out, _ = await mcpgate(
        "probe",
        faults.url("tool-error"),
        "--protocol-version",
        "2025-11-25",
        "--transport",
        "streamable-http",
        "--call",
        "echo",
    )
    assert code == exitcodes.CHECK_FAILED
    assert out.splitlines()[-1] == "FAILED: tools/call echo: tool_error: boom: disk full"


async def test_failure_in_json(faults: FaultServer) -> None:
    code, out, _ = await mcpgate(
        "probe", faults.url("http-500"), "--protocol-version", "2025-11-25", "--call", "echo", "--json"
    )
    assert code == exitcodes.CHECK_FAILED
    report = json.loads(out)
    assert report["ok"] is False
    assert report["reason"] == "tools/call echo: http_error 500: 'Internal Server Error'"
    assert report["steps"][-1]["outcome"] in ("ok", "http_error")


async def test_secrets_never_reach_the_output(faults: FaultServer) -> None:
    token = "tok-9f8e7d6c5b4a"
    url = faults.url("echo-token")
    for fmt in ([], ["--json"]):
        code, out, err = await mcpgate(
            "probe",
            url,
            "--protocol-version",
            "2025-11-25",
            "--bearer-token",
            token,
            "--call",
            "echo",
            "-H",
            "X-Api-Key: key-0a1b2c3d",
            *fmt,
        )
        assert code == exitcodes.CHECK_FAILED
        assert token not in out + err
        assert "key-0a1b2c3d" not in out + err
        assert "upstream rejected ***" in out
    sent = faults.headers["echo-token"][-1]
    assert (sent["Authorization"], sent["X-Api-Key"]) == (f"Bearer {token}", "key-0a1b2c3d")


async def test_token_from_the_environment(faults: FaultServer) -> None:
    import os

    env = {**os.environ, "MCPGATE_BEARER_TOKEN": "let-me-in-0123"}
    code, out, _ = await mcpgate("probe", faults.url("unauthorized"), "--protocol-version", "2025-11-25", env=env)
    assert code == exitcodes.OK, out
    assert "let-me-in-0123" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["probe", "ftp://x/mcp"], "mcpgate: error: URL: expected an http:// or https:// URL"),
        (
            ["probe", "http://127.0.0.1:1/mcp", "--call", "t", "--args", "{nope"],
            "mcpgate: error: --args: not valid JSON",
        ),
        (["probe", "http://127.0.0.1:1/mcp", "--args", "{}"], "mcpgate: error: --args: needs --call TOOL"),
        (
            ["probe", "http://127.0.0.1:1/mcp", "--call", "t", "--args", "[1]"],
            "mcpgate: error: --args: must be a JSON object, got list",
        ),
        (
            ["probe", "http://127.0.0.1:1/mcp", "-H", "Authorization Bearer abc"],
            "mcpgate: error: --header: expected 'Name: value'",
        ),
        (["probe", "http://127.0.0.1:1/mcp", "--timeout", "5x"], "argument --timeout: expected a duration"),
        (["probe", "http://127.0.0.1:1/mcp", "--transport", "ws"], "argument --transport: invalid choice: 'ws'"),
        (["probe", "http://127.0.0.1:1/mcp", "--bogus"], "unrecognized arguments: --bogus"),
        (["probe"], "the following arguments are required: URL"),
        (
            ["probe", "http://127.0.0.1:1/sse", "--transport", "sse", "--protocol-version", "2026-07-28"],
            "has no legacy SSE",
        ),
        (["probe", "http://127.0.0.1:1/mcp", "--timeout", "0"], "--timeout: must be more than 0"),
    ],
)
async def test_bad_input_is_one_line_and_exit_104(args: list[str], message: str) -> None:
    code, out, err = await mcpgate(*args)
    assert code == exitcodes.INVALID_INPUT
    assert out == ""
    assert err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    assert "Bearer abc" not in err


async def test_version() -> None:
    code, out, _ = await mcpgate("--version")
    assert code == 0
    assert out.startswith("mcpgate ")
