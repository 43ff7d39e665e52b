"""Many virtual users at once, at reduced scale: 500 VUs, each with its own MCP session, on one machine.

The benchmark (bench/, part ``density``) shows 10,000; this proves in every test run that a ramp
to 500 concurrent sessions against the official SDK server holds: every VU up, each session
opened once and used for many calls, under 1% errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpgate.results.io import read
from mcpgate.support import exitcodes
from tests import servers
from tests.run.helpers import config_file, count, run_cli

VUS = 500


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A server of its own: 500 sessions at once are more than the shared one should carry."""
    with servers.serving(lambda port: servers.example_cmd(port, "--json")) as started:
        yield started.url("/mcp")


async def test_500_vus_each_with_its_own_session_hold(server: str, tmp_path: Path) -> None:
    config = config_file(
        tmp_path / "mcpgate.yaml",
        {
            "target": {"url": server, "protocol_version": "2025-11-25"},
            "flow": {
                "session": "per-vu",
                "listen": False,  # the held streams have their own tests; this one is about VUs
                "think_time": "2s..4s",
                "tools": [{"name": "get_record", "arguments": {"id": "rec_{{ randint(1, 50) }}"}}],
            },
            "scenarios": {
                "many": {
                    "executor": "ramping-vus",
                    "startVUs": 0,
                    "stages": [{"duration": "4s", "target": VUS}, {"duration": "6s", "target": VUS}],
                    "gracefulRampDown": "5s",
                }
            },
            "thresholds": {"http_req_failed": ["rate<0.01"], "checks": ["rate>0.99"]},
        },
    )
    code, stdout, stderr, out = await run_cli(tmp_path, "-c", str(config))
    assert code == exitcodes.OK, stdout + stderr
    results = read(out)
    assert results.metric("vus_max", "max") == VUS
    assert results.metric("vus", "max") == VUS  # every VU was running at once
    assert results.metric("http_req_failed", "rate") == 0.0
    # One session per VU: 500 initialize handshakes, and more calls than sessions.
    assert count(results, "http_reqs{method:initialize}") == VUS
    calls = count(results, "http_reqs{method:tools/call}")
    assert calls > VUS
    assert count(results, "mcp_session_reinit") == 0
    assert not [n for n in results.run.notes if n.startswith("file descriptors")]
