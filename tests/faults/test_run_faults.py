"""A short load against every misbehaviour a broken server or proxy can show.

Each run is `mcpgate run` as a user runs it (a subprocess, so a traceback would show), against one
route of our fault server, and must: end by itself within its timeouts, print no traceback, count
the right error class, write its results and its summary, and exit with the documented code.
Faults on tool calls let the preflight pass, so the load runs and the gate (mcp_tool_errors
rate<0.01) fails with 99; faults that stop the preflight exit 103 without hammering the server.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcpgate.support import exitcodes
from tests.conftest import Spawn
from tests.faultserver import FaultServer
from tests.run.helpers import config_file
from tests.servers import free_port

TIMEOUT = 0.5
GATE = {"mcp_tool_errors": ["rate<0.01"]}


@dataclass(frozen=True)
class Fault:
    route: str
    kind: str | None  # the error class that must be counted (None: none, the run recovers)
    code: int
    reason: str = ""  # a sample reason must contain this
    url: str = ""  # instead of the fault server's route


FAULTS = [
    Fault("tool-error", "tool_error", exitcodes.THRESHOLDS_FAILED, "boom: disk full"),
    Fault("rpc-error", "jsonrpc_error", exitcodes.THRESHOLDS_FAILED, "internal failure in handler"),
    Fault("http-500", "http_error", exitcodes.THRESHOLDS_FAILED, "Internal Server Error"),
    Fault("burst-503", "http_error", exitcodes.THRESHOLDS_FAILED, "Retry-After: 1"),
    Fault("http-429", "http_error", exitcodes.THRESHOLDS_FAILED, "Retry-After: 3"),
    Fault("proxy-html-502", "http_error", exitcodes.THRESHOLDS_FAILED, "HTML page '502 Bad Gateway'"),
    Fault("html-200", "protocol_error", exitcodes.THRESHOLDS_FAILED, "unexpected Content-Type 'text/html'"),
    Fault("redirect-302", "http_error", exitcodes.THRESHOLDS_FAILED, "redirect to '/elsewhere/mcp'"),
    Fault("slow-error-body", "http_error", exitcodes.THRESHOLDS_FAILED, "http_error 500"),
    Fault("stall-headers", "timeout", exitcodes.THRESHOLDS_FAILED, "no response within 0.5s"),
    Fault("stall-body", "timeout", exitcodes.THRESHOLDS_FAILED, "no response within 0.5s"),
    Fault("sse-nothing", "timeout", exitcodes.THRESHOLDS_FAILED, "no response within 0.5s"),
    Fault("trickle", "timeout", exitcodes.THRESHOLDS_FAILED, "no response within 0.5s"),
    Fault("reset-mid-body", "connection_error", exitcodes.THRESHOLDS_FAILED, "response cut off"),
    Fault("bad-json", "protocol_error", exitcodes.THRESHOLDS_FAILED, "invalid JSON"),
    Fault("empty-200", "protocol_error", exitcodes.THRESHOLDS_FAILED, "invalid JSON"),
    Fault("non-utf8", "protocol_error", exitcodes.THRESHOLDS_FAILED, "invalid JSON"),
    Fault("bad-gzip", "protocol_error", exitcodes.THRESHOLDS_FAILED, "compressed"),
    Fault("wrong-id", "protocol_error", exitcodes.THRESHOLDS_FAILED, "does not match request id"),
    Fault("no-jsonrpc", "protocol_error", exitcodes.THRESHOLDS_FAILED, "jsonrpc=None"),
    Fault("null-id-error", "jsonrpc_error", exitcodes.THRESHOLDS_FAILED, "Parse error"),
    Fault("sse-no-response", "protocol_error", exitcodes.THRESHOLDS_FAILED, "without the response"),
    Fault("sse-silent-close", "protocol_error", exitcodes.THRESHOLDS_FAILED, "without the response"),
    Fault("sse-cut", "protocol_error", exitcodes.THRESHOLDS_FAILED, "cut mid-event"),
    Fault("huge", "protocol_error", exitcodes.THRESHOLDS_FAILED, "exceeds the 1048576-byte limit"),
    Fault("connection-close", None, exitcodes.OK),
    # Faults the preflight meets: the run stops before any load, with the reason.
    Fault("unauthorized", None, exitcodes.COULD_NOT_START, 'WWW-Authenticate: Bearer error="invalid_token"'),
    # A session the server forgets at once, every time: re-initialized once, then it counts.
    Fault("expire-always", None, exitcodes.COULD_NOT_START, "tools/list: http_error 404: Session not found"),
    Fault("missing-session", None, exitcodes.COULD_NOT_START, "missing session id"),
    Fault("bad-session-id", None, exitcodes.COULD_NOT_START, "Mcp-Session-Id holds characters"),
    Fault("bad-version", None, exitcodes.COULD_NOT_START, "which mcpgate does not speak"),
    Fault("notify-200", None, exitcodes.COULD_NOT_START, "expected 202 Accepted"),
    Fault("refused", None, exitcodes.COULD_NOT_START, "connection refused", url="refused"),
    Fault("dns", None, exitcodes.COULD_NOT_START, "DNS lookup failed", url="http://no-such-host.invalid/mcp"),
    Fault("tls", None, exitcodes.COULD_NOT_START, "TLS handshake failed", url="tls"),
]


def url_for(fault: Fault, faults: FaultServer) -> str:
    if fault.url == "refused":
        return f"http://127.0.0.1:{free_port()}/mcp"
    if fault.url == "tls":
        return faults.url("ok").replace("http://", "https://")
    return fault.url or faults.url(fault.route)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.route for f in FAULTS])
async def test_a_short_load_against_a_fault(faults: FaultServer, spawn: Spawn, tmp_path: Path, fault: Fault) -> None:
    config = {
        "target": {
            "url": url_for(fault, faults),
            "transport": "streamable-http",
            "protocol_version": "2025-11-25",
            "timeout": f"{TIMEOUT}s",
            "connect_timeout": "0.5s",
            "max_response_bytes": 1024 * 1024,
        },
        "flow": {"tools": [{"name": "echo", "arguments": {"text": "{{ vu }}"}}], "think_time": "50ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 2, "duration": "1s", "gracefulStop": "1s"}},
        "thresholds": GATE,
    }
    path = config_file(tmp_path / "c.yaml", config)
    out, summary = tmp_path / "results.json", tmp_path / "summary.md"
    started = time.monotonic()
    proc = await spawn("run", "-c", str(path), "--out", str(out), "--markdown", str(summary), "--no-progress")
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    took = time.monotonic() - started
    text = stdout.decode() + stderr.decode()
    assert "Traceback" not in text
    assert proc.returncode == fault.code, text
    assert took < 10  # 1 s of load, 0.5 s timeouts, 1 s graceful stop, and start-up
    results = json.loads(out.read_text())
    assert results["run"]["exit_code"] == fault.code
    assert summary.read_text().startswith("## ")
    errors = {e["class"]: e for e in results["errors"]}
    if fault.kind is not None:
        assert results["metrics"][f"mcp_errors_{fault.kind}"]["values"]["count"] > 0
        assert fault.kind in errors, errors
        reasons = " | ".join(s["reason"] for s in errors[fault.kind]["samples"])
        assert fault.reason in reasons
    elif fault.code == exitcodes.COULD_NOT_START:
        assert results["run"]["status"] == "not_started"
        assert fault.reason in results["run"]["reason"]
        assert results["metrics"].get("http_reqs") is None  # no load was sent
    else:
        assert results["run"]["status"] == "passed", results["run"]
        assert not errors


async def test_a_recovered_session_is_counted_not_failed(faults: FaultServer, spawn: Spawn, tmp_path: Path) -> None:
    """404 on a live session: re-initialized once and counted; the call itself succeeds."""
    config = {
        "target": {"url": faults.url("expire-call"), "transport": "streamable-http", "protocol_version": "2025-11-25"},
        "flow": {"tools": [{"name": "echo"}], "think_time": "50ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "1s"}},
        "thresholds": {"mcp_tool_errors": ["rate<0.01"], "mcp_session_reinit": ["count>0"]},
    }
    path = config_file(tmp_path / "c.yaml", config)
    proc = await spawn("run", "-c", str(path), "--out", str(tmp_path / "r.json"), "--no-progress")
    await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == exitcodes.OK
