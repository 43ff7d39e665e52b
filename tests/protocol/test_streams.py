"""Held streams against real servers: the standalone GET stream and the legacy SSE stream.

The official SDK servers (stateful, stateless, legacy SSE, the 2026-07-28 protocol), the
TypeScript everything server (which sends notifications on its GET stream), and our own
server for what the SDKs do not do on purpose: a stream the server ends early, one that
goes silent, server requests that must be answered, SSE polling and a 405.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from mcpgate.protocol.http import HttpSettings, make_http
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.outcome import Kind, Outcome
from mcpgate.protocol.records import Step, Target
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.transport import ServerQuirks, Streams
from mcpgate.protocol.wire.pool import Pool
from tests.conftest import PeerFactory
from tests.faultserver import FaultServer

SETTINGS = HttpSettings(timeout=5, connect_timeout=2)
AUTO = Streams(listen=None)


@dataclass
class Log:
    """What a session reported, in order: its steps and its streams' lives (a StepSink and a StreamMeter)."""

    steps: list[Step] = field(default_factory=list)
    events: list[tuple[str, str, Outcome | None]] = field(default_factory=list)  # (what, method, outcome)
    messages: list[tuple[str, bool]] = field(default_factory=list)
    received: int = 0
    sse_events: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def step(self, step: Step) -> None:
        self.steps.append(step)
        self.events.append(("step", step.method, step.outcome))
        self.changed.set()

    def stream_opened(self, method: str) -> None:
        self.events.append(("opened", method, None))
        self.changed.set()

    def stream_data(self, received: int, events: int) -> None:
        self.received += received
        self.sse_events += events
        self.changed.set()

    def stream_ended(self, method: str, seconds: float, outcome: Outcome) -> None:
        self.events.append(("ended", method, outcome))
        self.changed.set()

    def server_message(self, method: str, request: bool) -> None:
        self.messages.append((method, request))
        self.changed.set()

    def session_reinitialized(self) -> None:
        self.events.append(("reinit", "", None))
        self.changed.set()

    def redirect_followed(self) -> None:
        self.events.append(("redirect", "", None))
        self.changed.set()

    def auth_token(self, seconds: float | None, ok: bool) -> None:
        return None

    def auth_refreshed(self) -> None:
        return None

    def server_request_answered(self, method: str, seconds: float) -> None:
        return None

    def methods(self) -> list[str]:
        return [s.method for s in self.steps]

    def ends(self) -> list[Outcome]:
        return [outcome for what, _, outcome in self.events if what == "ended" and outcome is not None]

    async def until(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Wait for what the server does next; the bound only keeps a broken test from hanging."""
        async with asyncio.timeout(within):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def http() -> AsyncIterator[Pool]:
    async with make_http(SETTINGS) as pool:
        yield pool


def session(
    http: Pool,
    url: str,
    log: Log,
    *,
    transport: str = "streamable-http",
    version: str = "2025-11-25",
    streams: Streams = AUTO,
    quirks: ServerQuirks | None = None,
) -> McpSession:
    target = Target(url, transport, version, SETTINGS, quirks=quirks or ServerQuirks())
    return McpSession(http, target, ids=IdSource(), sink=log.step, streams=streams, meter=log)


# -- the official SDK servers ---------------------------------------------------------------------


async def test_stateful_sdk_server_holds_the_get_stream_until_the_delete(peer: PeerFactory, http: Pool) -> None:
    log = Log()
    mcp = session(http, peer("stateful-sse"), log)
    assert (await mcp.open()).ok
    listen = next(s for s in log.steps if s.method == "sse/listen")
    assert (listen.outcome.kind, listen.http_status) == (Kind.OK, 200)
    assert mcp.holding
    assert (await mcp.call_tool("get_record", {"id": "rec_7"})).outcome.ok  # requests go on beside the stream
    assert mcp.holding
    assert (await mcp.close()).ok
    mcp.abandon()
    # Opened right after notifications/initialized, and ended by us (ok) before the DELETE went out.
    order = [(what, method) for what, method, _ in log.events]
    assert order.index(("step", "notifications/initialized")) < order.index(("opened", "sse/listen"))
    assert order.index(("ended", "sse/listen")) < order.index(("step", "session/delete"))
    assert log.ends() == [Outcome(Kind.OK)]
    assert not mcp.holding


async def test_stateless_sdk_server_gets_no_get_stream_unless_asked(peer: PeerFactory, http: Pool) -> None:
    url = peer("stateless-json")
    log = Log()
    mcp = session(http, url, log)  # auto: as the official clients, only with a session id
    assert (await mcp.open()).ok
    assert "sse/listen" not in log.methods()
    assert not mcp.holding
    await mcp.close()
    mcp.abandon()
    forced = Log()
    mcp = session(http, url, forced, streams=Streams(listen=True))
    assert (await mcp.open()).ok
    listen = next(s for s in forced.steps if s.method == "sse/listen")
    assert listen.http_status == 200  # this SDK holds a GET stream even without a session
    assert mcp.holding
    await mcp.close()
    mcp.abandon()
    assert forced.ends() == [Outcome(Kind.OK)]


async def test_the_stateless_protocol_has_no_get_stream(peer: PeerFactory, http: Pool) -> None:
    log = Log()
    mcp = session(http, peer("stateful-sse"), log, version="2026-07-28", streams=Streams(listen=True))
    assert (await mcp.open()).ok
    assert (await mcp.list_tools()).ok
    assert (await mcp.call_tool("get_record", {"id": "rec_1"})).outcome.ok
    await mcp.close()
    mcp.abandon()
    assert log.methods() == ["server/discover", "tools/list", "tools/call"]
    assert not [e for e in log.events if e[0] != "step"]


async def test_legacy_sdk_session_lives_on_its_held_stream(peer: PeerFactory, http: Pool) -> None:
    log = Log()
    mcp = session(http, peer("legacy-sse"), log, transport="sse", version="2024-11-05")
    assert (await mcp.open()).ok
    assert mcp.holding
    assert (await mcp.list_tools()).ok
    await mcp.close()
    mcp.abandon()
    assert [(what, method) for what, method, _ in log.events if what != "step"] == [
        ("opened", "sse/connect"),
        ("ended", "sse/connect"),
    ]
    assert log.ends() == [Outcome(Kind.OK)]
    assert log.sse_events == 2  # the answers to initialize and tools/list (the endpoint event came before)


async def test_held_streams_cost_no_task(peer: PeerFactory, http: Pool) -> None:
    """No task reads a held stream: thousands of idle sessions must not mean thousands of tasks."""
    before = len(asyncio.all_tasks())
    sessions = []
    for mode, transport, version in [
        ("stateful-sse", "streamable-http", "2025-11-25"),
        ("legacy-sse", "sse", "2024-11-05"),
    ]:
        for _ in range(15):
            mcp = session(http, peer(mode), Log(), transport=transport, version=version)
            assert (await mcp.open()).ok
            sessions.append(mcp)
    assert all(mcp.holding for mcp in sessions)
    assert len(asyncio.all_tasks()) == before
    await asyncio.gather(*(mcp.close() for mcp in sessions))
    for mcp in sessions:
        mcp.abandon()


# -- the TypeScript everything server ---------------------------------------------------------------


async def test_everything_server_notifications_arrive_on_the_get_stream(peer: PeerFactory, http: Pool) -> None:
    log = Log()
    mcp = session(http, peer("ts-streamable"), log)
    assert (await mcp.open()).ok
    assert mcp.holding
    # Its simulated logging sends notifications/message on the GET stream (not on the call's answer).
    assert (await mcp.call_tool("toggle-simulated-logging", {})).outcome.ok
    await log.until(lambda: ("notifications/message", False) in log.messages)
    assert log.sse_events >= 1
    await mcp.close()
    mcp.abandon()
    assert log.ends() == [Outcome(Kind.OK)]


async def test_everything_server_legacy_stream_carries_its_notification(peer: PeerFactory, http: Pool) -> None:
    log = Log()
    mcp = session(http, peer("ts-sse"), log, transport="sse", version="2024-11-05")
    assert (await mcp.open()).ok
    # It announces its tool list right after notifications/initialized, unprompted, on the stream.
    await log.until(lambda: ("notifications/tools/list_changed", False) in log.messages)
    await mcp.close()
    mcp.abandon()


# -- our own server: what the SDKs do not do on purpose ---------------------------------------------


async def test_a_stream_the_server_ends_is_stream_closed_and_reopened(faults: FaultServer, http: Pool) -> None:
    log = Log()
    mcp = session(http, faults.url("stream-close"), log)
    assert (await mcp.open()).ok
    await log.until(lambda: len(log.ends()) >= 2 and log.methods().count("sse/listen") >= 3)
    closed = log.ends()[0]
    assert closed.kind is Kind.STREAM_CLOSED
    assert closed.reason.startswith("the server ended the stream after")
    await mcp.close()
    mcp.abandon()
    # Each end is followed by a reconnect, as the official clients do; the session itself is untouched.
    assert all(s.outcome.ok for s in log.steps)
    assert faults.counts["stream-close:GET"] >= 3


async def test_a_silent_stream_is_stream_stalled(faults: FaultServer, http: Pool) -> None:
    log = Log()
    mcp = session(http, faults.url("stream-silent"), log, streams=Streams(listen=None, idle_timeout=0.3))
    assert (await mcp.open()).ok
    await log.until(lambda: bool(log.ends()))
    stalled = log.ends()[0]
    assert stalled == Outcome(Kind.STREAM_STALLED, "no bytes, not even a keepalive, for 0.3s")
    await mcp.close()
    mcp.abandon()


async def test_keepalives_keep_a_quiet_stream_from_stalling(faults: FaultServer, http: Pool) -> None:
    log = Log()
    mcp = session(http, faults.url("stream-held"), log, streams=Streams(listen=None, idle_timeout=0.3))
    assert (await mcp.open()).ok
    # Comments every 0.1 s and no event: a second of silence as far as messages go, yet alive.
    await log.until(lambda: log.received >= 10 * len(b": keepalive\n\n"))
    assert mcp.holding
    await mcp.close()
    mcp.abandon()
    assert log.ends() == [Outcome(Kind.OK)]
    assert log.sse_events == 0  # comments are not events


async def test_server_requests_on_the_get_stream_are_answered(faults: FaultServer, http: Pool) -> None:
    log = Log()
    mcp = session(http, faults.url("stream-requests"), log)
    assert (await mcp.open()).ok

    def answers() -> dict[str, dict[str, object]]:
        return {str(m["id"]): m for m in faults.seen["stream-requests"] if "method" not in m and "id" in m}

    await log.until(lambda: len(answers()) == 2)
    assert answers()["srv-ping-1"] == {"jsonrpc": "2.0", "id": "srv-ping-1", "result": {}}
    refused = answers()["srv-roots-1"]
    assert refused["error"] == {"code": -32601, "message": "mcpgate does not handle roots/list"}
    assert sorted(log.messages) == [("notifications/message", False), ("ping", True), ("roots/list", True)]
    # Answers are not measured requests: the steps are the session's own.
    assert log.methods() == ["initialize", "notifications/initialized", "sse/listen"]
    await mcp.close()
    mcp.abandon()


async def test_sse_polling_on_the_get_stream_is_resumed_not_an_error(faults: FaultServer, http: Pool) -> None:
    log = Log()
    mcp = session(http, faults.url("stream-retry"), log)
    assert (await mcp.open()).ok
    await log.until(lambda: log.methods().count("sse/listen") == 2 and mcp.holding)
    resumed = [h for h in faults.headers["stream-retry"] if h.get("Last-Event-ID")]
    assert [h["Last-Event-ID"] for h in resumed] == ["g-1"]
    assert log.ends() == [Outcome(Kind.OK)]  # the server asked us to come back: no stream_closed
    await mcp.close()
    mcp.abandon()


async def test_a_compressed_get_stream_is_read_as_it_arrives(faults: FaultServer, http: Pool) -> None:
    log = Log()
    mcp = session(http, faults.url("stream-gzip"), log)
    assert (await mcp.open()).ok
    await log.until(lambda: ("notifications/message", False) in log.messages)
    assert log.sse_events == 1
    await mcp.close()
    mcp.abandon()
    assert log.ends() == [Outcome(Kind.OK)]


async def test_405_is_fine_and_remembered_for_the_target(faults: FaultServer, http: Pool) -> None:
    quirks = ServerQuirks()
    first = Log()
    mcp = session(http, faults.url("no-get-stream"), first, quirks=quirks)
    assert (await mcp.open()).ok
    listen = next(s for s in first.steps if s.method == "sse/listen")
    assert (listen.outcome.kind, listen.http_status, listen.allowed_status) == (Kind.OK, 405, True)
    assert "not asked again" in listen.note
    assert quirks.get_stream is False
    await mcp.close()
    mcp.abandon()
    second = Log()
    mcp = session(http, faults.url("no-get-stream"), second, quirks=quirks)
    assert (await mcp.open()).ok
    await mcp.close()
    mcp.abandon()
    assert "sse/listen" not in second.methods()
    assert faults.counts["no-get-stream:GET"] == 1


async def test_a_refused_get_stream_is_an_error_and_the_session_works_on(faults: FaultServer, http: Pool) -> None:
    log = Log()
    mcp = session(http, faults.url("stream-refused"), log)
    assert (await mcp.open()).ok  # the session is open: its stream is not what opens it
    listen = next(s for s in log.steps if s.method == "sse/listen")
    assert (listen.outcome.kind, listen.http_status) == (Kind.HTTP_ERROR, 503)
    assert "Retry-After: 1" in listen.outcome.reason
    assert not listen.allowed_status
    assert mcp.target.quirks.get_stream is None  # not a 405: a later session asks again
    assert (await mcp.call_tool("echo", {"text": "x"})).outcome.ok
    await mcp.close()
    mcp.abandon()
    assert faults.counts["stream-refused:GET"] == 1


async def test_legacy_stream_that_goes_silent_is_stalled_and_the_session_reopened(
    faults: FaultServer, http: Pool
) -> None:
    log = Log()
    url = faults.url("legacy-quiet", "sse")
    mcp = session(http, url, log, transport="sse", version="2024-11-05", streams=Streams(idle_timeout=0.3))
    assert (await mcp.open()).ok
    await log.until(lambda: bool(log.ends()))
    assert log.ends()[0].kind is Kind.STREAM_STALLED
    assert (await mcp.call_tool("echo", {"text": "after"})).outcome.ok
    assert mcp.reinits == 1
    assert [what for what, _, _ in log.events if what != "step"] == ["opened", "ended", "reinit", "opened"]
    # The call was sent once, on the new session: nothing that never went out is counted as sent.
    calls = [s for s in log.steps if s.method == "tools/call"]
    assert [(s.outcome.kind, s.retried) for s in calls] == [(Kind.OK, False)]
    await mcp.close()
    mcp.abandon()
