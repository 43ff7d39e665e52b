"""MCP sessions, whatever the transport and era: open, list tools, call tools, close.

An ``McpSession`` belongs to one virtual user and is reused: each ``open()``
starts a new MCP session on a fresh transport. Every public method returns an
``Outcome`` and reports each wire exchange as a ``Step`` to a sink (the probe's
list, or the load engine's metrics). Nothing raises out of a session except bugs.

Eras:
    handshake (2024-11-05 .. 2025-11-25): initialize -> notifications/initialized,
        a session id to echo, MCP-Protocol-Version after initialize, DELETE at the end.
    modern (2026-07-28): server/discover, then self-contained requests carrying
        ``_meta`` and mirrored headers; no session to end, and no stream to hold.

Streams: a legacy session lives on its held GET stream. On Streamable HTTP a
session may hold the standalone GET stream as the official clients do (``Streams``):
opened right after notifications/initialized, reconnected when the server ends it
(after its ``retry``, with ``Last-Event-ID``), dropped before the DELETE. A 405 says
the server offers none; the target remembers it so no later session asks again.
Server requests on any stream are answered (ping with a result, anything else with
-32601), unmeasured, so they never disturb the request metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mcpgate import __version__
from mcpgate.protocol import modern
from mcpgate.protocol.http import HttpSettings, classify_exception
from mcpgate.protocol.jsonrpc import (
    HEADER_MISMATCH,
    IdSource,
    JSONObject,
    check_response,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from mcpgate.protocol.legacy_sse import LegacySseTransport
from mcpgate.protocol.outcome import OK, Kind, Outcome, shorten
from mcpgate.protocol.streamable_http import StreamableHttpTransport
from mcpgate.protocol.transport import (
    LEGACY_SSE,
    NO_METER,
    SESSION_DELETE,
    SSE_CONNECT,
    SSE_LISTEN,
    Reply,
    ServerQuirks,
    SessionMeter,
    Streams,
    Transport,
)
from mcpgate.protocol.versions import HANDSHAKE_VERSIONS, is_modern
from mcpgate.protocol.wire.pool import Pool

CLIENT_INFO: Mapping[str, str] = {"name": "mcpgate", "version": __version__}
MAX_TOOL_PAGES = 100
MAX_MESSAGE_KINDS = 32  # distinct server message methods counted by name; the rest as "other"
_SESSION_ID = re.compile(r"[\x21-\x7E]+")
RECONNECT_DELAY = 1.0  # seconds before the GET stream is opened again, when the server named no retry
MAX_RECONNECT_WAIT = 30.0  # a server's retry field is obeyed up to this
MIN_RECONNECT_WAIT = 0.1  # and from this: a retry of 0 must not become a loop


# A DELETE the server answers so ended the session as far as it goes (Streamable HTTP): 405, the
# server does not let clients end sessions; 404, the session was gone already.
_DELETE_ANSWERS = {404: "session already ended (404)", 405: "405: the server keeps its sessions"}


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to talk: everything negotiation settles, made concrete."""

    url: str
    transport: str  # streamable-http | sse
    version: str  # the version to ask for (handshake) or speak (modern)
    settings: HttpSettings = field(default_factory=HttpSettings)
    expect_version: str | None = None
    client_info: Mapping[str, str] = field(default_factory=lambda: dict(CLIENT_INFO))
    quirks: ServerQuirks = field(default_factory=ServerQuirks, compare=False)


@dataclass(slots=True)
class Step:
    """One exchange on the wire and how it ended."""

    method: str
    outcome: Outcome
    duration: float  # seconds, monotonic
    http_status: int | None = None
    tool: str | None = None
    server_messages: int = 0
    sent: int = 0
    received: int = 0
    note: str = ""
    fallback: bool = False  # a negotiation attempt whose failure only chose the era
    retried: bool = False  # answered by a recovery (re-initialize, re-list) and sent again
    framing: str | None = None  # how the answer came: "json" or "sse" (Streamable HTTP)
    wire: bool = True  # False: never sent (its session could not be re-opened); no HTTP request to count
    allowed_status: bool = False  # a status >= 400 the protocol allows here (405 to the GET stream or a DELETE)


StepSink = Callable[[Step], None]


def step_label(step: Step) -> str:
    return f"{step.method} {step.tool}" if step.tool else step.method


def first_failure(steps: list[Step]) -> Step | None:
    """The step that made a session fail: not a negotiation attempt, not one a recovery answered."""
    return next((s for s in steps if not (s.fallback or s.retried or s.outcome.ok)), None)


@dataclass(slots=True)
class _Answer:
    outcome: Outcome
    result: JSONObject | None  # only when the outcome is ok
    step: Step


@dataclass(slots=True)
class ToolInfo:
    name: str
    input_schema: JSONObject
    annotations: JSONObject
    description: str = ""
    param_headers: list[modern.ParamHeader] = field(default_factory=list)

    @property
    def read_only(self) -> bool:
        return self.annotations.get("readOnlyHint") is True


@dataclass(slots=True)
class ServerIdentity:
    transport: str
    protocol_version: str
    server_info: JSONObject | None
    capabilities: JSONObject | None
    instructions: str | None = None

    @classmethod
    def of(cls, transport: str, version: str, result: JSONObject, server_info: Any) -> ServerIdentity:
        caps, instructions = result.get("capabilities"), result.get("instructions")
        return cls(
            transport,
            version,
            server_info if isinstance(server_info, dict) else None,
            caps if isinstance(caps, dict) else None,
            instructions if isinstance(instructions, str) else None,
        )


class McpSession:
    def __init__(
        self,
        http: Pool,
        target: Target,
        *,
        ids: IdSource,
        sink: StepSink,
        streams: Streams | None = None,
        meter: SessionMeter = NO_METER,
    ) -> None:
        self._http = http
        self.target = target
        self._settings = target.settings
        self._ids = ids
        self.sink = sink
        self.streams = streams or Streams()  # set before open(); the default holds no GET stream
        self.meter = meter  # told of held streams and of the messages the server sends
        self._relisten: asyncio.TimerHandle | None = None  # a GET stream reconnect, waiting
        self._relistening: asyncio.Task[None] | None = None  # a GET stream reconnect, under way
        self._ending = False  # close() or abandon() has begun: streams that end now are not reopened
        self.modern = is_modern(target.version)
        self._meta = modern.meta(target.version, target.client_info) if self.modern else None
        self._transport: Transport = self._new_transport()
        self._used = False
        self.identity: ServerIdentity | None = None
        self.tools: dict[str, ToolInfo] = {}
        self.warnings: list[str] = []
        self.reinits = 0  # in the current session
        self.server_messages: Counter[str] = Counter()
        self._background: set[asyncio.Task[None]] = set()

    # -- the public flow -----------------------------------------------------------------

    async def open(self) -> Outcome:
        """Start a new MCP session: server/discover (modern), or the initialize handshake."""
        if self._used:
            self._transport.abandon()
            self._transport = self._new_transport()
        self._used = True
        self._ending = False
        self.identity = None
        self.tools = {}
        self.warnings = []
        self.reinits = 0
        if self.modern:
            return await self._discover()
        return await self._handshake()

    async def list_tools(self) -> Outcome:
        """tools/list, following nextCursor to the last page."""
        tools: dict[str, ToolInfo] = {}
        warnings: list[str] = []
        seen: set[str] = set()

        def judge(result: JSONObject) -> Outcome:
            if not isinstance(result.get("tools"), list):
                return Outcome(Kind.PROTOCOL_ERROR, "tools/list result has no tools array")
            cursor = result.get("nextCursor")
            if cursor is not None:
                if not isinstance(cursor, str) or cursor in seen:
                    return Outcome(
                        Kind.PROTOCOL_ERROR, f"nextCursor {shorten(repr(cursor), 40)} repeats or is not a string"
                    )
                if len(seen) + 1 >= MAX_TOOL_PAGES:
                    return Outcome(Kind.PROTOCOL_ERROR, f"more than {MAX_TOOL_PAGES} pages of tools")
            return OK

        params: JSONObject = {}
        while True:
            outcome, result = await self._request("tools/list", params, judge=judge)
            if not outcome.ok or result is None:
                return outcome
            for raw in result["tools"]:
                tool = self._tool(raw, warnings)
                if tool is not None:
                    tools[tool.name] = tool
            cursor = result.get("nextCursor")
            if cursor is None:
                self.tools, self.warnings = tools, warnings
                return OK
            seen.add(cursor)
            params = {"cursor": cursor}

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> Outcome:
        params: JSONObject = {"name": name, "arguments": arguments if isinstance(arguments, dict) else dict(arguments)}
        answer = await self._call(params, name)
        if self.modern and answer.outcome.kind is Kind.JSONRPC_ERROR and answer.outcome.code == HEADER_MISMATCH:
            # The spec's recovery: the tool's schema may have changed; list again, then retry once.
            answer.step.note = "header mismatch: tools listed again and the call retried"
            answer.step.retried = True
            self.sink(answer.step)
            listed = await self.list_tools()
            if not listed.ok:
                return listed
            answer = await self._call(params, name)
        self.sink(answer.step)
        return answer.outcome

    async def _call(self, params: JSONObject, name: str) -> _Answer:
        extra: dict[str, str] | None = None
        if self.modern and (tool := self.tools.get(name)) is not None and tool.param_headers:
            extra = modern.argument_headers(tool.param_headers, params["arguments"])
        return await self._recovering("tools/call", params, name, _judge_tool_result, extra)

    async def close(self, within: float | None = None) -> Outcome:
        """End the session on the wire: drop its streams, then DELETE when the server gave a session id.

        ``within`` bounds it all (the answers still being sent, then the DELETE) more tightly than the
        request timeout: a VU that is being stopped must not linger.
        """
        self._ending = True
        self._stop_relisten()
        await self._settle_background(within)
        if self._transport.session_id is None:
            await self._transport.close()
            return OK
        return await self._timed(SESSION_DELETE, self._transport.close, within=within)

    @property
    def holding(self) -> bool:
        """A stream is held right now (the standalone GET stream, or the legacy stream)."""
        return self._transport.holding

    def set_streams(self, streams: Streams, meter: SessionMeter | None = None) -> None:
        """How this session holds streams from now on (and who measures them)."""
        self.streams = streams
        if meter is not None:
            self.meter = meter
        self._transport.stream_idle = streams.idle_timeout
        self._transport.meter = self.meter

    async def listen(self) -> Outcome:
        """Open the standalone GET stream now, if ``streams`` asks for one on this session."""
        if not self._wants_stream():
            return OK
        return await self._listen()

    def abandon(self) -> None:
        """Drop the session's resources without a word on the wire (after close, or when cancelled)."""
        self._ending = True
        self._stop_relisten()
        for task in self._background:
            task.cancel()
        self._transport.abandon()

    # -- eras ----------------------------------------------------------------------------

    async def _discover(self) -> Outcome:
        self._transport.set_version(self.target.version)
        outcome, result = await self._request("server/discover", {}, judge=self._judge_discover)
        if outcome.ok and result is not None:
            info = modern.server_info(result)
            self.identity = ServerIdentity.of(self._transport.name, self.target.version, result, info)
        return outcome

    async def _handshake(self) -> Outcome:
        connected = await self._timed(SSE_CONNECT, self._transport.connect, skip_if_none=True)
        if not connected.ok:
            return connected
        params: JSONObject = {
            "protocolVersion": self.target.version,
            "capabilities": {},
            "clientInfo": dict(self.target.client_info),
        }
        answer, reply = await self._exchange("initialize", params, None, self._judge_initialize, None)
        outcome, result = answer.outcome, answer.result
        if outcome.ok and reply is not None:
            outcome = answer.step.outcome = self._adopt_session(reply)
        self.sink(answer.step)
        if not outcome.ok or result is None:
            return outcome
        version = result["protocolVersion"]
        self.identity = ServerIdentity.of(self._transport.name, version, result, result.get("serverInfo"))
        self._transport.set_version(version)
        body = encode_notification("notifications/initialized")
        initialized = await self._timed(
            "notifications/initialized", lambda deadline: self._transport.notify(body, None, deadline), sent=len(body)
        )
        if initialized.ok and self._wants_stream():
            await self._listen()  # as the official clients do; the session works on without one
        return initialized

    def _adopt_session(self, reply: Reply) -> Outcome:
        sid = reply.session_id
        if sid is not None and not _SESSION_ID.fullmatch(sid):
            return Outcome(
                Kind.PROTOCOL_ERROR, "Mcp-Session-Id holds characters outside visible ASCII", reply.http_status
            )
        if isinstance(self._transport, StreamableHttpTransport):
            self._transport.session_id = sid
        return OK

    async def _reopen(self) -> Outcome:
        """A fresh session after the server forgot ours (404, or a dead legacy stream): once, and counted."""
        self.reinits += 1
        self.meter.session_reinitialized()
        self._stop_relisten()
        self._transport.abandon()
        self._transport = self._new_transport()
        self.identity = None
        return await self._handshake()

    def _new_transport(self) -> Transport:
        transport: Transport
        t = self.target
        if t.transport == LEGACY_SSE:
            transport = LegacySseTransport(self._http, t.url, self._settings, t.quirks)
        else:
            streamable = StreamableHttpTransport(self._http, t.url, self._settings, t.quirks)
            streamable.on_stream_end = lambda outcome, resume, retry: self._stream_ended(
                streamable, outcome, resume, retry
            )
            transport = streamable
        transport.on_server_message = self._on_server_message
        transport.meter = self.meter
        transport.stream_idle = self.streams.idle_timeout
        return transport

    # -- the standalone GET stream -----------------------------------------------------------

    def _wants_stream(self) -> bool:
        """As the official clients do (listen: auto): on Streamable HTTP sessions with a session id.
        Never on 2026-07-28 (it has no GET stream), nor once the server has answered 405."""
        listen = self.streams.listen
        transport = self._transport
        if listen is False or self.modern or not isinstance(transport, StreamableHttpTransport):
            return False
        if self.target.quirks.get_stream is False:
            return False
        return listen is True or transport.session_id is not None

    async def _listen(self, resume: str | None = None) -> Outcome:
        """Open the GET stream: one step, timed until its headers; 405 is fine and remembered."""
        transport = self._transport
        t0 = time.perf_counter()
        status: int | None = None
        try:
            status = await transport.listen(asyncio.get_running_loop().time() + self._settings.timeout, resume)
            outcome = OK
        except Exception as exc:
            outcome = self._classify(exc)
        step = Step(SSE_LISTEN, outcome, time.perf_counter() - t0, outcome.http_status or status)
        if status == 405:
            self.target.quirks.get_stream = False
            step.note, step.allowed_status = "405: the server offers no GET stream; not asked again", True
        elif resume is not None:
            step.note = "reconnected, resuming after the last event id"
        self.sink(step)
        return outcome

    def _stream_ended(
        self, transport: StreamableHttpTransport, outcome: Outcome, resume: str | None, retry: int | None
    ) -> None:
        """The server ended our GET stream (or it stalled): open it again, as the clients do, after
        the server's retry (or a second). A reconnect that fails is recorded and not tried again."""
        if self._ending or transport is not self._transport or self._relisten is not None:
            return
        if self._relistening is not None and self._relistening is not asyncio.current_task():
            return  # a reconnect is under way already
        wait = RECONNECT_DELAY if retry is None else min(max(retry / 1000.0, MIN_RECONNECT_WAIT), MAX_RECONNECT_WAIT)
        self._relisten = asyncio.get_running_loop().call_later(wait, self._reconnect, transport, resume)

    def _reconnect(self, transport: StreamableHttpTransport, resume: str | None) -> None:
        self._relisten = None
        if transport is not self._transport:
            return

        async def again() -> None:
            try:
                await self._listen(resume)
            finally:
                if self._relistening is asyncio.current_task():
                    self._relistening = None

        self._relistening = asyncio.create_task(again())

    def _stop_relisten(self) -> None:
        if self._relisten is not None:
            self._relisten.cancel()
            self._relisten = None
        if self._relistening is not None:
            self._relistening.cancel()
            self._relistening = None

    # -- one exchange ----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        params: JSONObject,
        *,
        judge: Callable[[JSONObject], Outcome] | None = None,
    ) -> tuple[Outcome, JSONObject | None]:
        answer = await self._recovering(method, params, None, judge, None)
        self.sink(answer.step)
        return answer.outcome, answer.result

    async def _recovering(
        self,
        method: str,
        params: JSONObject,
        tool: str | None,
        judge: Callable[[JSONObject], Outcome] | None,
        headers: dict[str, str] | None,
    ) -> _Answer:
        """One request; if the server lost our session, re-initialize once and send it again.

        A legacy stream that ended since the last request took the session with it: the session
        is re-opened before sending, so no request that could not go out is counted as sent.
        """
        reopened_first = self._stream_gone()
        if reopened_first and (unsent := await self._reopen_for(method, tool)) is not None:
            return unsent
        answer, _ = await self._exchange(method, params, tool, judge, headers)
        if not reopened_first and self._session_lost(answer.outcome):
            answer.step.note = "session lost: re-initialized and retried"
            answer.step.retried = True
            self.sink(answer.step)
            if (unsent := await self._reopen_for(method, tool)) is not None:
                return unsent
            answer, _ = await self._exchange(method, params, tool, judge, headers)
        return answer

    async def _reopen_for(self, method: str, tool: str | None) -> _Answer | None:
        """Re-initialize before sending ``method``; if that fails, the request's answer: not sent."""
        reopened = await self._reopen()
        if reopened.ok:
            return None
        unsent = Step(method, reopened, 0.0, tool=tool, note="not sent: re-initialize failed", wire=False)
        return _Answer(reopened, None, unsent)

    async def _exchange(
        self,
        method: str,
        params: JSONObject,
        tool: str | None,
        judge: Callable[[JSONObject], Outcome] | None,
        headers: dict[str, str] | None,
    ) -> tuple[_Answer, Reply | None]:
        """Send one request and judge its answer; the caller emits the step."""
        if self._meta is not None:
            params = {**params, "_meta": self._meta}
            mirrored = modern.request_headers(method, params)
            headers = {**mirrored, **headers} if headers else mirrored
        request_id = self._ids()
        body = encode_request(request_id, method, params)
        result: JSONObject | None = None
        reply: Reply | None = None
        t0 = time.perf_counter()
        try:
            deadline = asyncio.get_running_loop().time() + self._settings.timeout
            reply = await self._transport.request(request_id, body, headers, deadline)
            result = check_response(reply.message, request_id, http_status=reply.http_status)
            outcome = self._judge_era(method, result)
            if outcome.ok and judge is not None:
                outcome = judge(result)
        except Exception as exc:
            outcome = self._classify(exc)
            if outcome.kind is Kind.TIMEOUT and not self.modern:
                self._cancel(request_id)
        done = reply.done_at if reply is not None else time.perf_counter()
        status = outcome.http_status or (reply.http_status if reply is not None else self._transport.status)
        step = Step(
            method,
            outcome,
            done - t0,
            status,
            tool,
            reply.server_messages if reply is not None else 0,
            len(body),
            reply.received if reply is not None else 0,
            framing=reply.framing if reply is not None else None,
        )
        return _Answer(outcome, result if outcome.ok else None, step), reply

    async def _timed(
        self,
        method: str,
        action: Callable[[float], Awaitable[int | None]],
        *,
        sent: int = 0,
        skip_if_none: bool = False,
        within: float | None = None,
    ) -> Outcome:
        """A wire action that answers with a status, not a JSON-RPC result: timed, judged, and
        bounded by the deadline it is given (``within`` seconds, or the request timeout)."""
        t0 = time.perf_counter()
        status: int | None = None
        limit = self._settings.timeout if within is None else min(within, self._settings.timeout)
        try:
            status = await action(asyncio.get_running_loop().time() + limit)
            outcome = OK
        except Exception as exc:
            outcome = self._classify(exc)
            if outcome.kind is Kind.TIMEOUT and limit < self._settings.timeout:
                outcome = Outcome(Kind.TIMEOUT, f"no response within {limit:g}s (the virtual user was stopping)")
        else:
            if status is None and skip_if_none:
                return OK  # nothing went on the wire
        note = _DELETE_ANSWERS.get(status or 0, "") if method == SESSION_DELETE else ""
        step = Step(method, outcome, time.perf_counter() - t0, outcome.http_status or status or self._transport.status)
        step.sent, step.note = sent, note
        step.allowed_status = bool(note)  # the protocol allows both answers: not failed requests
        self.sink(step)
        return outcome

    def _classify(self, exc: Exception) -> Outcome:
        outcome = classify_exception(exc, self._settings).outcome
        transport = self._transport
        if (
            outcome.kind is Kind.TIMEOUT
            and isinstance(transport, LegacySseTransport)
            and transport.stray_id is not None
        ):
            note = f" (the stream carried a response with unmatched id {transport.stray_id!r})"
            transport.stray_id = None
            return Outcome(Kind.TIMEOUT, outcome.reason + note)
        if (
            outcome.kind is Kind.HTTP_ERROR
            and outcome.http_status == 400
            and isinstance(transport, StreamableHttpTransport)
            and transport.session_id is None
            and not self.modern
            and self.identity is not None
            and "session" in outcome.reason.lower()
        ):
            return Outcome(
                Kind.PROTOCOL_ERROR,
                f"missing session id: initialize assigned none, yet the server asks for one ({outcome.reason})",
                400,
            )
        return outcome

    def _stream_gone(self) -> bool:
        transport = self._transport
        return (
            not self.modern
            and self.identity is not None
            and isinstance(transport, LegacySseTransport)
            and transport.broken is not None
        )

    def _session_lost(self, outcome: Outcome) -> bool:
        if self.modern or self.identity is None:
            return False
        transport = self._transport
        if isinstance(transport, LegacySseTransport):
            # A 404 from the endpoint, or a stream that died: either way the session is gone.
            return (outcome.kind is Kind.HTTP_ERROR and outcome.http_status == 404) or transport.broken is not None
        return outcome.kind is Kind.HTTP_ERROR and outcome.http_status == 404 and transport.session_id is not None

    def _cancel(self, request_id: int) -> None:
        """Tell the server we gave up on a request, as real clients do (handshake era only)."""
        body = encode_notification("notifications/cancelled", {"requestId": request_id, "reason": "client timeout"})
        self._spawn(self._transport.answer(body))

    # -- judging answers -------------------------------------------------------------------

    def _judge_era(self, method: str, result: JSONObject) -> Outcome:
        if not self.modern:
            return OK
        kind = result.get("resultType")
        if kind == "complete":
            return OK
        if kind is None:
            return Outcome(Kind.PROTOCOL_ERROR, "result has no resultType (required from 2026-07-28)")
        if kind == "input_required":
            # mcpgate declares no client capabilities, so no input may be asked of it.
            return Outcome(
                Kind.PROTOCOL_ERROR, "server asks for client input (input_required) mcpgate declared no capability for"
            )
        return Outcome(Kind.PROTOCOL_ERROR, f"unexpected resultType {shorten(repr(kind), 40)} for {method}")

    def _judge_initialize(self, result: JSONObject) -> Outcome:
        version = result.get("protocolVersion")
        if not isinstance(version, str):
            return Outcome(Kind.PROTOCOL_ERROR, "initialize result has no protocolVersion")
        expected = self.target.expect_version
        if expected is not None and version != expected:
            return Outcome(Kind.PROTOCOL_ERROR, f"server negotiated {shorten(version, 40)}, expected {expected}")
        if version not in HANDSHAKE_VERSIONS:
            return Outcome(
                Kind.PROTOCOL_ERROR, f"server negotiated {shorten(version, 40)!r}, which mcpgate does not speak"
            )
        if not isinstance(result.get("capabilities"), dict):
            return Outcome(Kind.PROTOCOL_ERROR, "initialize result has no capabilities object")
        info = result.get("serverInfo")
        if not isinstance(info, dict) or not isinstance(info.get("name"), str):
            return Outcome(Kind.PROTOCOL_ERROR, "initialize result has no serverInfo with a name")
        return OK

    def _judge_discover(self, result: JSONObject) -> Outcome:
        versions = result.get("supportedVersions")
        if not isinstance(versions, list):
            return Outcome(Kind.PROTOCOL_ERROR, "server/discover result has no supportedVersions list")
        version = self.target.version
        if version not in versions:
            listed = shorten(", ".join(str(v) for v in versions[:6]), 80) or "none"
            return Outcome(Kind.PROTOCOL_ERROR, f"server/discover supports {listed}, not {version}")
        expected = self.target.expect_version
        if expected is not None and version != expected:
            return Outcome(Kind.PROTOCOL_ERROR, f"server speaks {version}, expected {expected}")
        if not isinstance(result.get("capabilities"), dict):
            return Outcome(Kind.PROTOCOL_ERROR, "server/discover result has no capabilities object")
        return OK

    def _tool(self, raw: Any, warnings: list[str]) -> ToolInfo | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            warnings.append("tools/list holds an entry without a name; skipped")
            return None
        schema, annotations, description = raw.get("inputSchema"), raw.get("annotations"), raw.get("description")
        tool = ToolInfo(
            raw["name"],
            schema if isinstance(schema, dict) else {},
            annotations if isinstance(annotations, dict) else {},
            description if isinstance(description, str) else "",
        )
        if self.modern:
            headers, problem = modern.param_headers(schema)
            if problem is not None:
                # The spec has clients drop such a tool rather than send headers it cannot trust.
                warnings.append(f"tool {shorten(tool.name, 60)!r} refused: {problem}")
                return None
            tool.param_headers = headers
        return tool

    # -- server-to-client messages ---------------------------------------------------------

    def _on_server_message(self, message: JSONObject) -> None:
        method = message.get("method")
        name = method if isinstance(method, str) else "?"
        if name not in self.server_messages and len(self.server_messages) >= MAX_MESSAGE_KINDS:
            name = "other"
        self.server_messages[name] += 1
        request = "id" in message
        self.meter.server_message(name, request)
        if not request or self.modern:
            return  # notifications are only counted; 2026-07-28 has no back channel to answer on
        if method == "ping":
            body = encode_result(message["id"], {})
        else:
            body = encode_error(message["id"], -32601, f"mcpgate does not handle {shorten(name, 60)}")
        self._spawn(self._transport.answer(body))

    def _spawn(self, work: Awaitable[None]) -> None:
        async def bounded() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.timeout):
                    await work

        task = asyncio.create_task(bounded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _settle_background(self, within: float | None = None) -> None:
        if self._background:
            limit = self._settings.timeout if within is None else min(within, self._settings.timeout)
            await asyncio.wait(set(self._background), timeout=limit)


def _judge_tool_result(result: JSONObject) -> Outcome:
    if result.get("isError") is True:
        return Outcome(Kind.TOOL_ERROR, _first_text(result.get("content")) or "isError: true")
    if not isinstance(result.get("content"), list) and "structuredContent" not in result:
        return Outcome(Kind.PROTOCOL_ERROR, "tools/call result has no content array")
    return OK


def _first_text(content: Any) -> str:
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                return shorten(block["text"])
    return ""
