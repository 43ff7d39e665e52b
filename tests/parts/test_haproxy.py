"""Through a real load balancer: HAProxy, round robin with a sticky-session cookie, in front of two
stateful official-SDK servers (each knows only the sessions it opened).

With cookies (the default) every session stays on its replica and nothing fails, whether sessions
last an iteration or a VU's life with the GET stream held; without them, the next request of a
session lands on the other replica, which answers 404 "Session not found".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpgate.support import exitcodes
from tests.action.test_action import action
from tests.parts.haproxy import answered_by, sticky
from tests.run.helpers import config_file, run_cli
from tests.servers import Server, example_cmd, serving
from tests.test_cli_probe import mcpgate

VERSION = "2025-11-25"  # the handshake era: sessions with ids (2026-07-28 has none to keep)
SESSION_ERRORS = ("mcp_init_errors", "mcp_session_reinit", "mcp_errors_http_error", "mcp_errors_protocol_error")


@pytest.fixture(scope="module")
def balancer() -> Iterator[Server]:
    with serving(example_cmd) as one, serving(example_cmd) as two:
        hosts = [s.base.removeprefix("http://") for s in (one, two)]
        with sticky(hosts) as lb:
            yield lb


def config(url: str, **flow: Any) -> dict[str, Any]:
    return {
        "target": {"url": url, "transport": "streamable-http", "protocol_version": VERSION, "timeout": "5s"},
        "flow": {"think_time": "0.05s", "tools": [{"name": "get_record", "arguments": {"id": "rec_1"}}], **flow},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 4, "duration": "2s"}},
        "thresholds": {"http_req_failed": ["rate<0.0001"], "mcp_init_errors": ["count<1"]},
    }


def session_errors(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: metrics[name]["values"]["count"] for name in SESSION_ERRORS if name in metrics}


def spread(balancer: Server, before: dict[str, int]) -> dict[str, int]:
    after = answered_by(balancer)
    return {name: after.get(name, 0) - before.get(name, 0) for name in ("s1", "s2")}


@pytest.mark.parametrize(
    "flow",
    [
        {"session": "per-iteration"},
        {"session": "per-vu", "calls_per_session": 5, "listen": True},  # held GET streams, through the balancer
    ],
    ids=["per-iteration", "per-vu-with-streams"],
)
async def test_with_cookies_sessions_stay_on_their_replica(
    balancer: Server, tmp_path: Path, flow: dict[str, Any]
) -> None:
    before = answered_by(balancer)
    ran = await run_cli(
        tmp_path, "-c", str(config_file(tmp_path / "mcpgate.yaml", config(balancer.url("/mcp"), **flow)))
    )
    assert ran.code == exitcodes.OK, ran.stdout + ran.stderr
    results = json.loads(ran.out.read_text())
    metrics = results["metrics"]
    assert results["run"]["status"] == "passed"
    assert set(session_errors(metrics).values()) == {0}
    assert metrics["http_req_failed"]["values"]["rate"] == 0
    assert metrics["http_reqs{method:tools/call}"]["values"]["count"] > 10
    if flow["session"] == "per-vu":
        assert metrics["checks{check:sse/listen held}"]["values"]["rate"] == 1
        assert metrics["http_reqs{method:sse/listen}"]["values"]["count"] >= 4
    counts = spread(balancer, before)
    assert min(counts.values()) > 10, counts  # both replicas served: the cookie, not luck, kept sessions whole


@pytest.mark.parametrize("flow", [{"session": "per-iteration"}, {"session": "per-vu", "listen": True}])
async def test_without_cookies_the_other_replica_does_not_know_the_session(
    balancer: Server, tmp_path: Path, flow: dict[str, Any]
) -> None:
    path = config_file(tmp_path / "mcpgate.yaml", config(balancer.url("/mcp"), **flow))
    ran = await run_cli(tmp_path, "-c", str(path), "--no-cookies")
    assert ran.code in (exitcodes.COULD_NOT_START, exitcodes.THRESHOLDS_FAILED), ran.stdout + ran.stderr
    results = json.loads(ran.out.read_text())
    assert results["run"]["status"] != "passed"
    assert "404" in ran.stdout
    assert "Session not found" in ran.stdout


async def test_probe_through_the_balancer(balancer: Server) -> None:
    args = (
        "probe",
        balancer.url("/mcp"),
        "--protocol-version",
        VERSION,
        "--call",
        "get_record",
        "--args",
        '{"id": "rec_1"}',
    )
    code, out, err = await mcpgate(*args, "--json")
    assert code == exitcodes.OK, out + err
    assert json.loads(out)["ok"] is True
    code, out, err = await mcpgate(*args, "--json", "--no-cookies")
    assert code == exitcodes.CHECK_FAILED, out + err
    report = json.loads(out)
    assert "http_error 404: Session not found" in report["reason"]


async def test_the_action_through_the_balancer(balancer: Server, tmp_path: Path) -> None:
    inputs = {
        "INPUT_URL": balancer.url("/mcp"),
        "INPUT_TRANSPORT": "streamable-http",
        "INPUT_PROTOCOL-VERSION": VERSION,
        "INPUT_PROFILE": "smoke",
        "INPUT_DURATION": "2s",
        "INPUT_VUS": "2",
        "INPUT_TOOLS": 'get_record: 1 {"id": "rec_1"}',
        "INPUT_THRESHOLDS": "http_req_failed: rate<0.0001",
        "INPUT_RESULTS-DIR": "out",
    }
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    run = await action(tmp_path / "on", inputs)
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    assert run.outputs["passed"] == "true"
    assert float(run.outputs["error-rate"]) == 0
    off = await action(tmp_path / "off", {**inputs, "INPUT_NO-COOKIES": "true"})
    assert off.code != exitcodes.OK
    assert off.outputs["passed"] == "false"
    assert "Session not found" in off.stdout + off.summary
