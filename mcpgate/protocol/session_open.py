"""Opening an MCP session, and opening it again when the server lost it.

Eras:
    handshake (2024-11-05 .. 2025-11-25): initialize -> notifications/initialized,
        a session id to echo, MCP-Protocol-Version after initialize, DELETE at the end.
    modern (2026-07-28): server/discover, then self-contained requests carrying
        ``_meta`` and mirrored headers; no session to end, and no stream to hold.

A server that forgets our session (a 404 to a request that carried its id, or a legacy
stream that ended) gets one re-initialize, counted, and the request is sent again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from mcpgate.protocol import modern
from mcpgate.protocol.client_side import declared
from mcpgate.protocol.jsonrpc import JSONObject, encode_notification
from mcpgate.protocol.judging import judge_discover, judge_initialize
from mcpgate.protocol.legacy_sse import LegacySseTransport
from mcpgate.protocol.outcome import OK, Kind, Outcome
from mcpgate.protocol.records import PLAIN, CallOptions, ServerIdentity, Step
from mcpgate.protocol.session_exchange import Answer
from mcpgate.protocol.session_http import SessionHttp
from mcpgate.protocol.session_listen import Listening
from mcpgate.protocol.streamable_http import StreamableHttpTransport
from mcpgate.protocol.transport import LEGACY_SSE, SSE_CONNECT, Reply, Transport

_SESSION_ID = re.compile(r"[\x21-\x7E]+")


class Opening(Listening):
    """A session's start (and restart): the transport, the era's opening, the session id."""

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

    async def _discover(self) -> Outcome:
        self._transport.set_version(self.target.version)
        outcome, result = await self._request("server/discover", {}, judge=partial(judge_discover, self.target))
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
            "capabilities": declared(self.target.client),
            "clientInfo": dict(self.target.client_info),
        }
        judge = partial(judge_initialize, self.target)
        answer, reply = await self._exchange("initialize", params, None, judge, None)
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
        # A fresh jar per MCP session, as the official SDK's client has one HTTP client per session.
        settings = self._settings
        http = self._client = SessionHttp(
            self._http, t.url, cookies=settings.cookies, headers=settings.headers, on_redirect=self._redirected
        )
        if t.transport == LEGACY_SSE:
            transport = LegacySseTransport(http, t.url, self._settings, t.quirks)
        else:
            streamable = StreamableHttpTransport(http, t.url, self._settings, t.quirks)
            streamable.on_stream_end = lambda outcome, resume, retry: self._stream_ended(
                streamable, outcome, resume, retry
            )
            transport = streamable
        transport.on_server_message = self._on_server_message
        transport.meter = self.meter
        transport.stream_idle = self.streams.idle_timeout
        self._bearer = None  # a new transport carries no token yet
        return transport

    def _redirected(self) -> None:
        self.redirects += 1
        self.meter.redirect_followed()

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
        *,
        options: CallOptions = PLAIN,
    ) -> Answer:
        """One request; if the server lost our session, re-initialize once and send it again.

        A legacy stream that ended since the last request took the session with it: the session
        is re-opened before sending, so no request that could not go out is counted as sent.
        """
        reopened_first = self._stream_gone()
        if reopened_first and (unsent := await self._reopen_for(method, tool)) is not None:
            return unsent
        answer, _ = await self._exchange(method, params, tool, judge, headers, options=options)
        if not reopened_first and self._session_lost(answer.outcome):
            answer.step.note = "session lost: re-initialized and retried"
            answer.step.retried = True
            self.sink(answer.step)
            if (unsent := await self._reopen_for(method, tool)) is not None:
                return unsent
            answer, _ = await self._exchange(method, params, tool, judge, headers, options=options)
        return answer

    async def _reopen_for(self, method: str, tool: str | None) -> Answer | None:
        """Re-initialize before sending ``method``; if that fails, the request's answer: not sent."""
        reopened = await self._reopen()
        if reopened.ok:
            return None
        unsent = Step(method, reopened, 0.0, tool=tool, note="not sent: re-initialize failed", wire=False)
        return Answer(reopened, None, unsent)

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
