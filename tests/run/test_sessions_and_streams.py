"""Whole runs with the realistic session shape: per-VU sessions, held streams and their metrics.

Judged by what the servers saw (sessions, calls per session, GETs, DELETEs, answers) and by
what the results, the console and the Markdown summary say.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from mcpgate.report.markdown import render_markdown
from mcpgate.results.schema import Results
from mcpgate.support import exitcodes
from tests.conftest import PeerFactory, Spawn
from tests.faultserver import FaultServer
from tests.run.helpers import TOOL_CALL, count, plan_from, run, target


def session_ids(faults: FaultServer, fault: str) -> set[str]:
    return {h["Mcp-Session-Id"] for h in faults.headers[fault] if "Mcp-Session-Id" in h}


def sessions_of(faults: FaultServer, fault: str) -> list[int]:
    """tools/call per session, for every session of this route that made a call (the preflight made none)."""
    return sorted(faults.calls_by_session[sid] for sid in session_ids(faults, fault) if faults.calls_by_session[sid])


def initializes(faults: FaultServer, fault: str) -> int:
    return sum(1 for m in faults.seen[fault] if m.get("method") == "initialize")


async def test_per_vu_sessions_call_repeatedly_until_calls_per_session(faults: FaultServer, tmp_path: Path) -> None:
    fault = "per-vu-calls"
    config = {
        "target": target(faults.url(fault)),
        "flow": {**TOOL_CALL, "session": "per-vu", "calls_per_session": 3, "think_time": "20ms"},
        "scenarios": {"agents": {"executor": "constant-vus", "vus": 2, "duration": "1s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason
    per_session = sessions_of(faults, fault)
    iterations = count(results, "iterations")
    # One call per iteration, three per session; each VU's last session may have ended early with the run.
    assert sum(per_session) == iterations == count(results, "http_reqs{method:tools/call}")
    assert len(per_session) >= 4
    assert set(per_session[2:]) == {3}
    assert max(per_session) == 3
    # Every session was opened once, listed its tools once, and ended on the wire (the preflight's too).
    assert initializes(faults, fault) == len(per_session) + 1 == faults.counts[f"{fault}:DELETE"]
    assert count(results, "http_reqs{method:tools/list}") == len(per_session)
    assert count(results, "mcp_session_duration") == len(per_session)


async def test_session_lifetime_ends_per_vu_sessions(faults: FaultServer, tmp_path: Path) -> None:
    fault = "per-vu-lifetime"
    config = {
        "target": target(faults.url(fault)),
        "flow": {**TOOL_CALL, "session": "per-vu", "session_lifetime": "300ms", "think_time": "50ms"},
        "scenarios": {"agent": {"executor": "constant-vus", "vus": 1, "duration": "1.2s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason
    per_session = sessions_of(faults, fault)
    assert len(per_session) >= 3  # a new session every 300 ms
    assert max(per_session) > 1  # each called repeatedly (no call limit), think time between calls
    assert initializes(faults, fault) == len(per_session) + 1 == faults.counts[f"{fault}:DELETE"]
    duration = results.metrics["mcp_session_duration"].values
    assert duration["max"] >= 300.0  # a session ends at the first iteration after its lifetime


async def test_a_per_vu_session_the_server_lost_is_reinitialized(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("expire-second-call")),
        "flow": {**TOOL_CALL, "session": "per-vu", "think_time": "20ms"},
        "scenarios": {"agent": {"executor": "constant-vus", "vus": 1, "duration": "0.6s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason
    iterations = count(results, "iterations")
    assert iterations > 2
    # Each server session dies at its second call; the retried call is the next one's first: so every
    # call after the very first met a lost session, re-initialized once, and then succeeded.
    assert count(results, "mcp_session_reinit") == iterations - 1
    assert results.metric("mcp_tool_errors", "rate") == 0
    # One logical session for the VU: the reinit happened inside it, not as a new one per call.
    assert count(results, "mcp_session_duration") == 1


async def test_405_to_the_get_stream_is_asked_once_per_run(faults: FaultServer, tmp_path: Path) -> None:
    for fault, workers in (("once-405", 1), ("once-405-workers", 2)):
        config = {
            "target": target(faults.url(fault)),
            "flow": {**TOOL_CALL, "think_time": "20ms"},
            "scenarios": {"s": {"executor": "constant-vus", "vus": 2, "duration": "0.6s"}},
        }
        results, _ = await run(plan_from(tmp_path, config), workers=workers)
        assert results.run.status == "passed", results.run.reason
        assert faults.counts[f"{fault}:GET"] == 1  # by the preflight; every VU (in every worker) knew
        listen = next(s for s in results.preflight if s["method"] == "sse/listen")
        assert (listen["http_status"], listen["outcome"]) == (405, "ok")
        assert "http_reqs{method:sse/listen}" not in results.metrics
        assert "mcp_streams_open" not in results.metrics
        assert count(results, "iterations") == initializes(faults, fault) - 1


async def test_listen_true_where_no_stream_can_be_held_says_so(faults: FaultServer, tmp_path: Path) -> None:
    modern: dict[str, object] = {
        "url": faults.url("modern"),
        "transport": "streamable-http",
        "protocol_version": "2026-07-28",
    }
    for tgt, note in (
        (modern, "flow.listen: true, but 2026-07-28 has no GET stream: none is held"),
        (target(faults.url("listen-405")), "flow.listen: true, but the server answered the GET stream with 405"),
    ):
        config: dict[str, object] = {
            "target": tgt,
            "flow": {**TOOL_CALL, "listen": True},
            "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.2s"}},
        }
        results, _ = await run(plan_from(tmp_path, config))
        assert results.run.status == "passed", results.run.reason
        assert any(n.startswith(note) for n in results.run.notes), results.run.notes
        assert "mcp_streams_open" not in results.metrics


async def test_streams_the_server_closes_fail_a_threshold_on_stream_closed(faults: FaultServer, tmp_path: Path) -> None:
    fault = "stream-close.run"
    config = {
        "target": target(faults.url(fault)),
        "flow": {**TOOL_CALL, "session": "per-vu", "calls_per_session": 0, "session_lifetime": "1.5s"},
        "scenarios": {"held": {"executor": "constant-vus", "vus": 2, "duration": "1s"}},
        "thresholds": {"mcp_errors_stream_closed": ["count<1"], "http_req_failed": ["rate<0.01"]},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "failed"
    assert results.run.exit_code == exitcodes.THRESHOLDS_FAILED
    closed = next(t for t in results.thresholds if t.metric == "mcp_errors_stream_closed")
    assert not closed.ok
    assert closed.value is not None
    assert closed.value >= 2  # each held stream was ended by the server at least once, then reopened
    assert next(t for t in results.thresholds if t.metric == "http_req_failed").ok  # not failed requests
    assert count(results, "http_reqs{method:sse/listen}") > 2
    errors = {e.kind: e for e in results.errors}
    sample = errors["stream_closed"].samples[0]
    assert sample.method == "sse/listen"
    assert sample.reason.startswith("stream_closed: the server ended the stream after")
    assert "STREAMS" in text
    assert "closed by the server" in text
    # The phases table is about requests: the stream's end is not the GET's error.
    listen = next(row for row in results.phases if row.name == "sse/listen")
    assert listen.errors == 0


async def test_server_messages_on_streams_are_counted_and_not_measured(faults: FaultServer, tmp_path: Path) -> None:
    fault = "stream-requests.run"
    config = {
        "target": target(faults.url(fault)),
        "flow": {**TOOL_CALL, "session": "per-vu", "calls_per_session": 0, "session_lifetime": "400ms"},
        "scenarios": {"held": {"executor": "constant-vus", "vus": 1, "duration": "0.3s"}},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason
    sessions = count(results, "mcp_session_duration")
    assert count(results, "mcp_server_requests{method:ping}") == sessions
    assert count(results, "mcp_server_requests{method:roots/list}") == sessions
    assert count(results, "mcp_server_notifications{method:notifications/message}") == sessions
    assert count(results, "mcp_stream_events") == 3 * sessions
    # The answers went back (one per request) but are not requests of the load: five steps per session.
    answers = [m for m in faults.seen[fault] if "method" not in m]
    assert 2 * sessions <= len(answers) <= 2 * (sessions + 1)  # the preflight session's stream may have asked too
    assert count(results, "http_reqs") == 5 * sessions
    assert "server requests" in text
    assert "ping answered, others refused" in text


async def test_two_hundred_held_get_streams_at_once(peer: PeerFactory, tmp_path: Path) -> None:
    """The issue's reduced-scale run: 200 per-VU sessions, each holding its GET stream for seconds,
    against the official SDK server, spread over two worker processes."""
    config = {
        "target": {"url": peer("stateful-sse"), "transport": "streamable-http", "protocol_version": "2025-11-25"},
        "flow": {"session": "per-vu", "calls_per_session": 0, "session_lifetime": "8s"},
        "scenarios": {"held": {"executor": "constant-vus", "vus": 200, "duration": "8s", "graceful_stop": "20s"}},
        "thresholds": {
            "mcp_streams_open": ["max>=200"],
            "http_req_failed": ["rate<0.01"],
            "checks": ["rate>0.99"],
            "mcp_errors_stream_closed": ["count<1"],
            "mcp_errors_stream_stalled": ["count<1"],
        },
    }
    out = tmp_path / "results.json"
    results, text = await run(plan_from(tmp_path, config), out=out, workers=2)
    assert results.run.status == "passed", results.run.reason + text
    assert results.run.workers == 2
    opened = results.metrics["mcp_streams_open"].values
    assert (opened["max"], opened["value"]) == (200, 0)  # summed over the workers at one instant; none left
    lifetimes = results.metrics["mcp_stream_duration"].values
    assert lifetimes["count"] == 200  # each VU's one session, each with its one stream
    assert lifetimes["med"] > 2000  # held until the session's 8 s were over (minus its opening)
    assert count(results, "http_reqs{method:sse/listen}") == 200
    assert count(results, "http_reqs{method:session/delete}") == 200
    _summaries_show_streams(results, text, "max 200, 0 at the end")


async def test_legacy_sse_sessions_hold_their_streams(peer: PeerFactory, tmp_path: Path) -> None:
    config = {
        "target": {"url": peer("legacy-sse"), "transport": "sse", "protocol_version": "2024-11-05"},
        "flow": {"session": "per-vu", "calls_per_session": 0, "session_lifetime": "3s"},
        "scenarios": {"held": {"executor": "constant-vus", "vus": 60, "duration": "3s"}},
        "thresholds": {"mcp_streams_open": ["max>=60"], "http_req_failed": ["rate<0.01"]},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason + text
    assert results.metrics["mcp_streams_open"].values["max"] == 60
    assert count(results, "mcp_stream_duration") == 60
    assert count(results, "mcp_stream_events") >= 2 * 60  # initialize's and tools/list's answers, at least
    _summaries_show_streams(results, text, "max 60, 0 at the end")


def _summaries_show_streams(results: Results, console: str, held: str) -> None:
    assert "STREAMS" in console
    assert f"held at once...... {held}" in console
    markdown = render_markdown(results)
    assert "### Streams" in markdown
    assert f"| held at once | {held} |" in markdown


async def test_an_interrupt_ends_per_vu_sessions_and_their_streams_on_the_wire(
    faults: FaultServer, spawn: Spawn, tmp_path: Path
) -> None:
    fault = "stream-held.interrupt"
    out = tmp_path / "r.json"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"target: {{url: '{faults.url(fault)}', transport: streamable-http, protocol_version: '2025-11-25'}}\n"
        "flow: {session: per-vu, think_time: 60s, tools: [{name: echo}]}\n"
        "scenarios: {s: {executor: constant-vus, vus: 3, duration: 60s}}\n"
    )
    proc = await spawn("run", "-c", str(config), "--out", str(out), "--no-progress", "--workers", "1")
    async with asyncio.timeout(30):
        while sum(faults.calls_by_session[s] for s in session_ids(faults, fault)) < 3:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.05)  # until every VU has made its call and is thinking
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == exitcodes.INTERRUPTED, stdout.decode() + stderr.decode()
    results = json.loads(out.read_text())
    assert results["run"]["status"] == "interrupted"
    # Thinking VUs lose nothing: no iteration was cut, and each VU's session ended with a DELETE.
    assert results["run"]["interrupted_iterations"] == 0
    assert initializes(faults, fault) == 4 == faults.counts[f"{fault}:DELETE"]
    opened = results["metrics"]["mcp_streams_open"]["values"]
    assert (opened["max"], opened["value"]) == (3, 0)
    assert results["metrics"]["mcp_stream_duration"]["values"]["count"] == 3
    assert results["metrics"]["checks"]["values"]["rate"] == 1.0
