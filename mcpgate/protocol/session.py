"""One MCP session, whatever the transport and era: open, list tools, call tools, close.

Every public method returns an ``Outcome`` and reports each wire exchange as a
``Step`` to a sink (the probe's list, or the load engine's metrics). Nothing
raises out of a session except bugs.

Eras:
    handshake (2024-11-05 .. 2025-11-25): initialize -> notifications/initialized,
        a session id to echo, MCP-Protocol-Version after initialize, DELETE at the end.
    modern (2026-07-28): server/discover, then self-contained requests carrying
        ``_meta`` and mirrored headers; no session to end.
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

import aiohttp

from mcpgate import __version__
from mcpgate.protocol import modern
from mcpgate.protocol.http import HttpSettings, classify_exception
from mcpgate.protocol.jsonrpc import (
    IdSource,
    JSONObject,
    check_response,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from mcpgate.protocol.legacy_sse import LegacySseTransport
from mcpgate.protocol.outcome import OK, Failure, Kind, Outcome, shorten
from mcpgate.protocol.streamable_http import StreamableHttpTransport
from mcpgate.protocol.transport import LEGACY_SSE, Reply, Transport
from mcpgate.protocol.versions import HANDSHAKE_VERSIONS, is_modern

CLIENT_INFO: Mapping[str, str] = {"name": "mcpgate", "version": __version__}
MAX_TOOL_PAGES = 100
_SESSION_ID = re.compile(r"[\x21-\x7E]+")

# Steps that are HTTP actions rather than JSON-RPC methods.
SSE_CONNECT = "sse/connect"
SESSION_DELETE = "session/delete"


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to talk: everything negotiation settles, made concrete."""

    url: str
    transport: str  # streamable-http | sse
    version: str  # the version to ask for (handshake) or speak (modern)
    settings: HttpSettings = field(default_factory=HttpSettings)
    expect_version: str | None = None
    client_info: Mapping[str, str] = field(default_factory=lambda: dict(CLIENT_INFO))


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
    retried: bool = False  # the session was lost (404), re-initialized, and this request sent again
    framing: str | None = None  # how the answer came: "json" or "sse" (Streamable HTTP)


StepSink = Callable[[Step], None]


@dataclass(slots=True)
class _Answer:
    outcome: Outcome
    result: JSONObject | None  # only when the outcome is ok
    reply: Reply | None
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


class McpSession:
    def __init__(self, http: aiohttp.ClientSession, target: Target, *, ids: IdSource, sink: StepSink) -> None:
        self._http = http
        self.target = target
        self._settings = target.settings
        self._ids = ids
        self.sink = sink
        self.modern = is_modern(target.version)
        self._meta = modern.meta(target.version, target.client_info) if self.modern else None
        self._transport: Transport = self._new_transport()
        self.identity: ServerIdentity | None = None
        self.tools: dict[str, ToolInfo] = {}
        self.warnings: list[str] = []
        self.reinits = 0
        self.server_messages: Counter[str] = Counter()
        self._answers: set[asyncio.Task[None]] = set()

    # -- the public flow -----------------------------------------------------------------

    async def open(self) -> Outcome:
        """server/discover (modern), or the initialize handshake (with the SSE stream first on legacy)."""
        if self.modern:
            return await self._discover()
        return await self._handshake()

    async def list_tools(self) -> Outcome:
        """tools/list, following nextCursor to the last page."""
        tools: dict[str, ToolInfo] = {}
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_TOOL_PAGES):
            params: JSONObject = {} if cursor is None else {"cursor": cursor}
            outcome, result = await self._request("tools/list", params, judge=_judge_tools_page)
            if not outcome.ok or result is None:
                return outcome
            for raw in result["tools"]:
                tool = self._tool(raw)
                if tool is not None:
                    tools[tool.name] = tool
            next_cursor = result.get("nextCursor")
            if next_cursor is None:
                self.tools = tools
                return OK
            if not isinstance(next_cursor, str) or next_cursor in seen:
                return self._fail_after("tools/list", f"nextCursor {next_cursor!r} repeats or is not a string")
            seen.add(next_cursor)
            cursor = next_cursor
        return self._fail_after("tools/list", f"more than {MAX_TOOL_PAGES} pages of tools")

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> Outcome:
        params: JSONObject = {"name": name, "arguments": dict(arguments)}
        extra: dict[str, str] | None = None
        if self.modern and (tool := self.tools.get(name)) is not None and tool.param_headers:
            extra = modern.argument_headers(tool.param_headers, arguments)
        outcome, _ = await self._request("tools/call", params, tool=name, judge=_judge_tool_result, headers=extra)
        return outcome

    async def close(self) -> Outcome:
        """End the session on the wire (DELETE when the server gave one) and stop its streams."""
        await self._settle_answers()
        if transport_session(self._transport) is not None:
            return await self._timed(SESSION_DELETE, self._transport.close)
        await self._transport.close()
        return OK

    # -- eras ----------------------------------------------------------------------------

    async def _discover(self) -> Outcome:
        self._transport_version(self.target.version)
        outcome, result = await self._request("server/discover", {}, judge=self._judge_discover)
        if outcome.ok and result is not None:
            caps = result.get("capabilities")
            self.identity = ServerIdentity(
                self._transport.name,
                self.target.version,
                _object_or_none(modern.server_info(result)),
                caps if isinstance(caps, dict) else None,
                result.get("instructions") if isinstance(result.get("instructions"), str) else None,
            )
        return outcome

    async def _handshake(self) -> Outcome:
        if isinstance(self._transport, LegacySseTransport):
            connected = await self._timed(SSE_CONNECT, self._transport.connect)
            if not connected.ok:
                return connected
        params: JSONObject = {
            "protocolVersion": self.target.version,
            "capabilities": {},
            "clientInfo": dict(self.target.client_info),
        }
        answer = await self._exchange("initialize", params, None, self._judge_initialize, None)
        outcome, result = answer.outcome, answer.result
        if outcome.ok and answer.reply is not None:
            outcome = answer.step.outcome = self._adopt_session(answer.reply)
        self._emit(answer.step)
        if not outcome.ok or result is None:
            return outcome
        version = result["protocolVersion"]
        self.identity = ServerIdentity(
            self._transport.name,
            version,
            _object_or_none(result.get("serverInfo")),
            result.get("capabilities") if isinstance(result.get("capabilities"), dict) else None,
            result.get("instructions") if isinstance(result.get("instructions"), str) else None,
        )
        self._transport_version(version)
        return await self._notify("notifications/initialized")

    def _adopt_session(self, reply: Reply) -> Outcome:
        if not isinstance(self._transport, StreamableHttpTransport):
            return OK
        sid = reply.session_id
        if sid is not None and not _SESSION_ID.fullmatch(sid):
            return Outcome(
                Kind.PROTOCOL_ERROR, "Mcp-Session-Id holds characters outside visible ASCII", reply.http_status
            )
        self._transport.session_id = sid
        return OK

    def _transport_version(self, version: str) -> None:
        if isinstance(self._transport, StreamableHttpTransport):
            self._transport.protocol_version = version

    async def _reopen(self) -> Outcome:
        """A fresh session after the server forgot ours (404): once, and counted."""
        self.reinits += 1
        if isinstance(self._transport, StreamableHttpTransport):
            self._transport.session_id = None
            self._transport.protocol_version = None
        else:
            await self._transport.close()
            self._transport = self._new_transport()
        return await self._handshake()

    def _new_transport(self) -> Transport:
        transport: Transport
        if self.target.transport == LEGACY_SSE:
            transport = LegacySseTransport(self._http, self.target.url, self._settings)
        else:
            transport = StreamableHttpTransport(self._http, self.target.url, self._settings)
        transport.on_server_message = self._on_server_message
        return transport

    # -- one exchange ----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        params: JSONObject,
        *,
        tool: str | None = None,
        judge: Callable[[JSONObject], Outcome] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Outcome, JSONObject | None]:
        answer = await self._exchange(method, params, tool, judge, headers)
        if self._session_lost(answer.outcome):
            answer.step.note = "session lost (404): re-initialized and retried"
            answer.step.retried = True
            self._emit(answer.step)
            reopened = await self._reopen()
            if not reopened.ok:
                return reopened, None
            answer = await self._exchange(method, params, tool, judge, headers)
        self._emit(answer.step)
        return answer.outcome, answer.result

    async def _exchange(
        self,
        method: str,
        params: JSONObject,
        tool: str | None,
        judge: Callable[[JSONObject], Outcome] | None,
        headers: dict[str, str] | None,
    ) -> _Answer:
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
            async with asyncio.timeout(self._settings.timeout):
                reply = await self._transport.request(request_id, body, headers)
            result = check_response(reply.message, request_id, http_status=reply.http_status)
            outcome = self._judge_era(method, result)
            if outcome.ok and judge is not None:
                outcome = judge(result)
        except Exception as exc:
            outcome = self._classify(exc)
        duration = time.perf_counter() - t0
        status = outcome.http_status or self._transport.status
        step = Step(
            method,
            outcome,
            duration,
            status,
            tool,
            reply.server_messages if reply is not None else 0,
            len(body),
            reply.received if reply is not None else 0,
            framing=reply.framing if reply is not None else None,
        )
        return _Answer(outcome, result if outcome.ok else None, reply, step)

    async def _notify(self, method: str) -> Outcome:
        body = encode_notification(method)
        return await self._timed(method, lambda: self._transport.notify(body), sent=len(body))

    async def _timed(self, method: str, action: Callable[[], Awaitable[object]], *, sent: int = 0) -> Outcome:
        """A wire action that answers with a status, not a JSON-RPC result: timed, bounded, judged."""
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self._settings.timeout):
                await action()
            outcome = OK
        except Exception as exc:
            outcome = self._classify(exc)
        status = outcome.http_status or self._transport.status
        self._emit(Step(method, outcome, time.perf_counter() - t0, status, sent=sent))
        return outcome

    def _classify(self, exc: Exception) -> Outcome:
        outcome = classify_exception(exc, self._settings).outcome
        transport = self._transport
        if outcome.kind is Kind.TIMEOUT and isinstance(transport, LegacySseTransport) and transport.stray_ids:
            note = f" (the stream carried a response with unmatched id {transport.stray_ids[-1]!r})"
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

    def _session_lost(self, outcome: Outcome) -> bool:
        if outcome.kind is not Kind.HTTP_ERROR or outcome.http_status != 404 or self.modern or self.identity is None:
            return False
        transport = self._transport
        return isinstance(transport, LegacySseTransport) or transport_session(transport) is not None

    def _emit(self, step: Step) -> None:
        self.sink(step)

    def _fail_after(self, method: str, reason: str) -> Outcome:
        outcome = Outcome(Kind.PROTOCOL_ERROR, reason)
        self._emit(Step(method, outcome, 0.0))
        return outcome

    # -- judging answers -------------------------------------------------------------------

    def _judge_era(self, method: str, result: JSONObject) -> Outcome:
        if not self.modern:
            return OK
        kind = result.get("resultType")
        if kind == "complete":
            return OK
        if kind is None:
            return Outcome(Kind.PROTOCOL_ERROR, "result has no resultType (required from 2026-07-28)")
        if kind == "input_required" and method == "tools/call":
            return Outcome(Kind.TOOL_ERROR, "the tool asks for client input (resultType input_required)")
        return Outcome(Kind.PROTOCOL_ERROR, f"unexpected resultType {shorten(repr(kind), 40)} for {method}")

    def _judge_initialize(self, result: JSONObject) -> Outcome:
        version = result.get("protocolVersion")
        if not isinstance(version, str):
            return Outcome(Kind.PROTOCOL_ERROR, "initialize result has no protocolVersion")
        expected = self.target.expect_version
        if expected is not None and version != expected:
            return Outcome(Kind.PROTOCOL_ERROR, f"server negotiated {version}, expected {expected}")
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
            listed = ", ".join(str(v) for v in versions[:6]) or "none"
            return Outcome(Kind.PROTOCOL_ERROR, f"server/discover supports {listed}, not {version}")
        expected = self.target.expect_version
        if expected is not None and version != expected:
            return Outcome(Kind.PROTOCOL_ERROR, f"server speaks {version}, expected {expected}")
        if not isinstance(result.get("capabilities"), dict):
            return Outcome(Kind.PROTOCOL_ERROR, "server/discover result has no capabilities object")
        return OK

    def _tool(self, raw: Any) -> ToolInfo | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            self.warnings.append("tools/list holds an entry without a name; skipped")
            return None
        schema = raw.get("inputSchema")
        annotations = raw.get("annotations")
        description = raw.get("description")
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
                self.warnings.append(f"tool {tool.name!r} refused: {problem}")
                return None
            tool.param_headers = headers
        return tool

    # -- server-to-client messages ---------------------------------------------------------

    def _on_server_message(self, message: JSONObject) -> None:
        method = message.get("method")
        self.server_messages[method if isinstance(method, str) else "?"] += 1
        if "id" not in message or self.modern:
            return  # notifications are only counted; 2026-07-28 has no back channel to answer on
        if method == "ping":
            body = encode_result(message["id"], {})
        else:
            body = encode_error(message["id"], -32601, f"mcpgate does not handle {method}")
        task = asyncio.create_task(self._answer(body))
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def _answer(self, body: bytes) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._settings.timeout):
                await self._transport.notify(body)

    async def _settle_answers(self) -> None:
        if self._answers:
            await asyncio.wait(set(self._answers), timeout=self._settings.timeout)


def transport_session(transport: Transport) -> str | None:
    return transport.session_id if isinstance(transport, StreamableHttpTransport) else None


def _object_or_none(value: Any) -> JSONObject | None:
    return value if isinstance(value, dict) else None


def _judge_tools_page(result: JSONObject) -> Outcome:
    if not isinstance(result.get("tools"), list):
        return Outcome(Kind.PROTOCOL_ERROR, "tools/list result has no tools array")
    return OK


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


__all__ = ["CLIENT_INFO", "Failure", "McpSession", "ServerIdentity", "Step", "StepSink", "Target", "ToolInfo"]
