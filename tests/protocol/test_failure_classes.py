"""Every outcome class, produced on purpose by our fault server and named as that class."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

import pytest

from mcpgate.app.probe import ProbeReport, run_probe
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.protocol.outcome import Kind
from tests.faultserver import FaultServer
from tests.servers import free_port

FAST = HttpSettings(timeout=0.5, connect_timeout=0.5)


def handshake(url: str, settings: HttpSettings = FAST, *, transport: str = "streamable-http") -> ConnectSpec:
    return ConnectSpec(url, transport, "2025-11-25", settings)


def failed(report: ProbeReport) -> tuple[str, Kind, str]:
    step = report.failed_step
    assert step is not None, f"expected a failed step, got {report.steps}"
    assert not report.ok
    return step.method, step.outcome.kind, step.outcome.reason


@dataclass(frozen=True)
class Case:
    fault: str
    method: str
    kind: Kind
    reason: str  # a substring the reason must hold
    status: int | None = None
    code: int | None = None


CASES = [
    Case("tool-error", "tools/call", Kind.TOOL_ERROR, "boom: disk full", 200),
    Case("rpc-error", "tools/call", Kind.JSONRPC_ERROR, "internal failure in handler", 200, -32603),
    Case("http-500", "tools/call", Kind.HTTP_ERROR, "Internal Server Error", 500),
    Case("http-503-json", "tools/call", Kind.HTTP_ERROR, "Too many sessions; Retry-After: 7", 503),
    Case("http-429", "tools/call", Kind.HTTP_ERROR, "Retry-After: 3", 429),
    Case("proxy-html-502", "tools/call", Kind.HTTP_ERROR, "HTML page '502 Bad Gateway'", 502),
    Case("html-200", "tools/call", Kind.PROTOCOL_ERROR, "unexpected Content-Type 'text/html'", 200),
    Case("stall-headers", "tools/call", Kind.TIMEOUT, "no response within 0.5s"),
    Case("stall-body", "tools/call", Kind.TIMEOUT, "no response within 0.5s"),
    Case("reset-mid-body", "tools/call", Kind.CONNECTION_ERROR, "response cut off"),
    Case("bad-json", "tools/call", Kind.PROTOCOL_ERROR, "invalid JSON in JSON response", 200),
    Case("non-utf8", "tools/call", Kind.PROTOCOL_ERROR, "invalid JSON", 200),
    Case("wrong-id", "tools/call", Kind.PROTOCOL_ERROR, "does not match request id", 200),
    Case("string-id", "tools/call", Kind.PROTOCOL_ERROR, "does not match request id", 200),
    Case("no-jsonrpc", "tools/call", Kind.PROTOCOL_ERROR, "jsonrpc=None", 200),
    Case("sse-no-response", "tools/call", Kind.PROTOCOL_ERROR, "ended after 1 server message(s) without the response"),
    Case("sse-silent-close", "tools/call", Kind.PROTOCOL_ERROR, "SSE stream ended without the response"),
    Case("sse-cut", "tools/call", Kind.PROTOCOL_ERROR, "cut mid-event"),
    Case("missing-session", "notifications/initialized", Kind.PROTOCOL_ERROR, "missing session id", 400),
    Case("expire-always", "tools/list", Kind.HTTP_ERROR, "Session not found", 404),
    Case("bad-version", "initialize", Kind.PROTOCOL_ERROR, "'1900-01-01', which mcpgate does not speak"),
    Case("bad-session-id", "initialize", Kind.PROTOCOL_ERROR, "Mcp-Session-Id holds characters outside visible ASCII"),
    Case("notify-200", "notifications/initialized", Kind.PROTOCOL_ERROR, "expected 202 Accepted", 200),
    Case("cursor-loop", "tools/list", Kind.PROTOCOL_ERROR, "nextCursor 'again' repeats"),
    Case("redirect-302", "tools/call", Kind.HTTP_ERROR, "redirect to '/elsewhere/mcp'", 302),
    Case("slow-error-body", "tools/call", Kind.HTTP_ERROR, "", 500),
    Case("null-id-error", "tools/call", Kind.JSONRPC_ERROR, "Parse error", 200, -32700),
    Case("unauthorized", "initialize", Kind.HTTP_ERROR, 'WWW-Authenticate: Bearer error="invalid_token"', 401),
]


@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
async def test_fault_is_named_as_its_class(faults: FaultServer, case: Case) -> None:
    report = await run_probe(handshake(faults.url(case.fault)), call="echo", arguments={"text": "hi"})
    method, kind, reason = failed(report)
    assert (method, kind) == (case.method, case.kind), reason
    assert case.reason in reason
    step = report.failed_step
    assert step is not None
    if case.status is not None:
        assert step.http_status == case.status
    assert step.outcome.code == case.code


async def test_connection_refused() -> None:
    report = await run_probe(handshake(f"http://127.0.0.1:{free_port()}/mcp"))
    _, kind, reason = failed(report)
    assert kind is Kind.CONNECTION_ERROR
    assert reason.endswith("connection refused")


async def test_connect_timeout() -> None:
    # A listener whose accept queue is full drops new SYNs: connect hangs, on loopback.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        try:
            settings = HttpSettings(timeout=2, connect_timeout=0.3)
            report = await run_probe(handshake(f"http://127.0.0.1:{port}/mcp", settings))
        finally:
            for filler in fillers:
                filler.close()
    _, kind, reason = failed(report)
    assert (kind, reason) == (Kind.TIMEOUT, "connect timed out after 0.3s")


async def test_dns_failure() -> None:
    report = await run_probe(handshake("http://no-such-host.invalid/mcp"))
    _, kind, reason = failed(report)
    assert kind is Kind.CONNECTION_ERROR
    assert "DNS lookup failed for no-such-host.invalid" in reason


async def test_tls_handshake_failure(faults: FaultServer) -> None:
    # TLS spoken to a plain-HTTP port: the handshake cannot succeed.
    report = await run_probe(handshake(faults.url("tool-error").replace("http://", "https://")))
    _, kind, reason = failed(report)
    assert kind is Kind.CONNECTION_ERROR
    assert reason.startswith("TLS handshake failed")


async def test_oversized_body_fails_at_the_cap(faults: FaultServer) -> None:
    settings = HttpSettings(timeout=5, connect_timeout=1, max_response_bytes=1024 * 1024)
    report = await run_probe(handshake(faults.url("huge"), settings), call="echo")
    _, kind, reason = failed(report)
    assert kind is Kind.PROTOCOL_ERROR
    assert "exceeds the 1048576-byte limit" in reason


async def test_sse_stream_with_everything_before_the_answer(faults: FaultServer) -> None:
    before = faults.counts["ping-answered"]
    report = await run_probe(handshake(faults.url("sse-chatty")), call="echo")
    assert report.ok, report.steps
    call = report.steps[-2]
    assert (call.method, call.server_messages) == ("tools/call", 2)
    assert call.http_status == 200  # the ping answer's 202 must not leak into the call's step
    assert report.server_messages == {"notifications/progress": 1, "ping": 1}
    assert faults.counts["ping-answered"] == before + 1
    answers = [m for m in faults.seen["sse-chatty"] if "method" not in m]
    assert answers[-1] == {"jsonrpc": "2.0", "id": "srv-1", "result": {}}


async def test_lost_session_is_reinitialized_once(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("expire-once")))
    assert report.ok, report.steps
    methods = [s.method for s in report.steps]
    assert methods == [
        "initialize",
        "notifications/initialized",
        "tools/list",
        "initialize",
        "notifications/initialized",
        "tools/list",
        "session/delete",
    ]
    lost = report.steps[2]
    assert (lost.outcome.kind, lost.http_status, lost.retried) == (Kind.HTTP_ERROR, 404, True)


async def test_tools_list_follows_every_page(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("paged")))
    assert report.ok
    assert report.tools == ["tool_0", "tool_1", "tool_2"]
    cursors = [m.get("params", {}).get("cursor") for m in faults.seen["paged"] if m.get("method") == "tools/list"]
    assert cursors[-3:] == [None, "p2", "p3"]


async def test_bearer_token_is_sent_on_every_request(faults: FaultServer) -> None:
    settings = HttpSettings(timeout=1, headers={"Authorization": "Bearer let-me-in-0123"})
    report = await run_probe(handshake(faults.url("unauthorized"), settings), call="echo")
    assert report.ok, report.steps
    sent = [h.get("Authorization") for h in faults.headers["unauthorized"]]
    assert sent[-5:] == ["Bearer let-me-in-0123"] * 5


async def test_request_ids_never_repeat_within_a_client(faults: FaultServer) -> None:
    before = len(faults.seen["expire-once"])
    await run_probe(handshake(faults.url("expire-once")), call="echo")
    ids = [m["id"] for m in faults.seen["expire-once"][before:] if "id" in m and "method" in m]
    assert len(ids) == len(set(ids))


async def test_legacy_response_that_never_comes_times_out(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("legacy-silent", "sse"), transport="sse"), call="echo")
    method, kind, reason = failed(report)
    assert (method, kind) == ("tools/call", Kind.TIMEOUT)
    assert reason == "no response within 0.5s"


async def test_legacy_response_with_a_wrong_id_is_named_at_once(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("legacy-stray", "sse"), transport="sse"), call="echo")
    method, kind, reason = failed(report)
    assert (method, kind) == ("tools/call", Kind.PROTOCOL_ERROR)
    assert reason.startswith("response id 987654 does not match request id")
    step = report.failed_step
    assert step is not None
    assert step.duration < 0.4  # named when it arrived, not after the 0.5 s timeout


async def test_legacy_stream_closed_by_server(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("legacy-close-early", "sse"), transport="sse"))
    method, kind, reason = failed(report)
    assert (method, kind) == ("initialize", Kind.PROTOCOL_ERROR)
    assert "SSE stream closed by the server" in reason


async def test_legacy_absolute_endpoint_with_session_id_param(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("legacy-absolute", "sse"), transport="sse"), call="echo")
    assert report.ok, report.steps


async def test_legacy_endpoint_on_another_origin_is_refused(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("legacy-foreign", "sse"), transport="sse"))
    method, kind, reason = failed(report)
    assert (method, kind) == ("sse/connect", Kind.PROTOCOL_ERROR)
    assert "on another origin than the SSE URL" in reason


async def test_modern_requests_mirror_headers_and_meta(faults: FaultServer) -> None:
    spec = ConnectSpec(faults.url("modern"), settings=FAST)
    args = {"region": "eu-west-1", "opts": {"shard": 7}, "query": "q"}
    report = await run_probe(spec, call="regional", arguments=args)
    assert report.ok, report.steps
    assert (report.transport, report.protocol_version) == ("streamable-http", "2026-07-28")
    assert report.server_info == {"name": "faults-modern", "version": "1"}
    # A tool whose x-mcp-header sits on a number is refused, as the spec requires.
    assert report.tools == ["echo", "regional"]
    assert any("bad-header" in w for w in report.warnings)
    headers = faults.headers["modern"][-1]
    assert (headers["Mcp-Param-Region"], headers["Mcp-Param-Shard"]) == ("eu-west-1", "7")


async def test_modern_result_without_result_type(faults: FaultServer) -> None:
    spec = ConnectSpec(faults.url("modern-no-resulttype"), version="2026-07-28", settings=FAST)
    report = await run_probe(spec)
    method, kind, reason = failed(report)
    assert (method, kind) == ("server/discover", Kind.PROTOCOL_ERROR)
    assert "resultType" in reason


async def test_sse_stream_resumed_with_last_event_id(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("sse-resume")), call="echo")
    assert report.ok, report.steps
    resumes = [h for h in faults.headers["sse-resume"] if h.get("Last-Event-ID")]
    assert len(resumes) == 1
    assert resumes[0]["Accept"] == "text/event-stream"
    assert "Mcp-Session-Id" in resumes[0]


async def test_delete_404_means_the_session_is_already_gone(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("delete-404")))
    assert report.ok, report.steps
    last = report.steps[-1]
    assert (last.method, last.http_status, last.note) == ("session/delete", 404, "session already ended (404)")


async def test_delete_405_means_the_server_keeps_its_sessions(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("delete-405")))
    assert report.ok, report.steps
    last = report.steps[-1]
    assert (last.method, last.http_status, last.note) == ("session/delete", 405, "405: the server keeps its sessions")


async def test_timed_out_request_is_cancelled_on_the_wire(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("cancel-seen")), call="echo")
    assert failed(report)[1] is Kind.TIMEOUT
    cancels = [m for m in faults.seen["cancel-seen"] if m.get("method") == "notifications/cancelled"]
    calls = [m for m in faults.seen["cancel-seen"] if m.get("method") == "tools/call"]
    assert cancels
    assert cancels[-1]["params"]["requestId"] == calls[-1]["id"]


async def test_legacy_endpoint_that_is_not_a_url(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("legacy-bad-endpoint", "sse"), transport="sse"))
    method, kind, reason = failed(report)
    assert (method, kind) == ("sse/connect", Kind.PROTOCOL_ERROR)
    assert reason.startswith("endpoint event is not a usable URL")


async def test_dead_legacy_stream_is_reopened_once(faults: FaultServer) -> None:
    report = await run_probe(handshake(faults.url("legacy-die-once", "sse"), transport="sse"), call="echo")
    assert report.ok, report.steps
    assert report.reinits == 1
    assert [s.method for s in report.steps].count("sse/connect") == 2


async def test_modern_rejection_of_discover_does_not_fall_back(faults: FaultServer) -> None:
    report = await run_probe(ConnectSpec(faults.url("modern-header-rejection"), settings=FAST))
    assert [s.method for s in report.steps] == ["server/discover"]
    assert (report.outcome.kind, report.outcome.code) == (Kind.JSONRPC_ERROR, -32020)


async def test_deeply_nested_schema_is_refused_not_crashed(faults: FaultServer) -> None:
    report = await run_probe(ConnectSpec(faults.url("modern-deep"), settings=FAST))
    assert report.ok, report.steps
    assert "deep" not in report.tools
    assert any("deeper than" in w for w in report.warnings)


async def test_header_mismatch_relists_and_retries(faults: FaultServer) -> None:
    from mcpgate.protocol.http import make_http
    from mcpgate.protocol.jsonrpc import IdSource
    from mcpgate.protocol.records import Step, Target
    from mcpgate.protocol.session import McpSession

    steps: list[Step] = []
    target = Target(faults.url("modern"), "streamable-http", "2026-07-28", FAST)
    async with make_http(FAST) as http:
        session = McpSession(http, target, ids=IdSource(), sink=steps.append)
        assert (await session.open()).ok
        # Called before tools/list: no Mcp-Param-* headers yet, so the server rejects the call once.
        outcome = (await session.call_tool("regional", {"region": "eu", "query": "q"})).outcome
    assert outcome.ok, steps
    assert [s.method for s in steps] == ["server/discover", "tools/call", "tools/list", "tools/call"]
    assert steps[1].retried


async def test_session_is_reusable_across_iterations(faults: FaultServer) -> None:
    from mcpgate.protocol.http import make_http
    from mcpgate.protocol.jsonrpc import IdSource
    from mcpgate.protocol.records import Step, Target
    from mcpgate.protocol.session import McpSession

    steps: list[Step] = []
    for transport, path in (("streamable-http", "mcp"), ("sse", "sse")):
        target = Target(faults.url("reuse", path), transport, "2025-11-25", FAST)
        async with make_http(FAST) as http:
            session = McpSession(http, target, ids=IdSource(), sink=steps.append)
            for _ in range(3):
                assert (await session.open()).ok, steps
                assert (await session.call_tool("echo", {"text": "x"})).outcome.ok, steps
                assert (await session.close()).ok, steps
    inits = [h for h in faults.headers["reuse"] if h.get("Content-Length") and "Mcp-Session-Id" not in h]
    # Every initialize starts clean: no session id and no version left over from the session before.
    assert inits
    assert all("MCP-Protocol-Version" not in h for h in inits)
