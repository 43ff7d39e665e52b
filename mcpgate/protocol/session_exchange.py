"""One exchange with the server: a request and its answer, timed, judged and recorded as a
``Step``; or a wire action that answers with a status (connect, notify, DELETE). Every
failure, raised anywhere below, becomes the ``Outcome`` it is; nothing raises out."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from mcpgate.protocol import modern
from mcpgate.protocol.http import classify_exception
from mcpgate.protocol.jsonrpc import JSONObject, check_response, encode_notification, encode_request
from mcpgate.protocol.judging import judge_era
from mcpgate.protocol.legacy_sse import LegacySseTransport
from mcpgate.protocol.outcome import OK, Failure, Kind, Outcome
from mcpgate.protocol.records import PLAIN, CallOptions, Step
from mcpgate.protocol.session_rounds import INPUT_REQUIRED, InputRounds
from mcpgate.protocol.streamable_http import StreamableHttpTransport
from mcpgate.protocol.transport import SESSION_DELETE, Reply

# A DELETE the server answers so ended the session as far as it goes (Streamable HTTP): 405, the
# server does not let clients end sessions; 404, the session was gone already.
_DELETE_ANSWERS = {404: "session already ended (404)", 405: "405: the server keeps its sessions"}


@dataclass(slots=True)
class Answer:
    """A request's end: how it went, its result (only when the outcome is ok), and its step."""

    outcome: Outcome
    result: JSONObject | None
    step: Step


class Exchanging(InputRounds):
    """Requests sent and answers judged, over whichever transport the session has now."""

    _progress: dict[object, int]  # progressTokens of requests in flight, and the notifications each brought

    def _on_server_message(self, message: JSONObject) -> None:
        if self._progress and message.get("method") == "notifications/progress":
            params = message.get("params")
            token = params.get("progressToken") if isinstance(params, dict) else None
            if isinstance(token, str | int) and token in self._progress:
                self._progress[token] += 1
        super()._on_server_message(message)

    async def _exchange(
        self,
        method: str,
        params: JSONObject,
        tool: str | None,
        judge: Callable[[JSONObject], Outcome] | None,
        headers: dict[str, str] | None,
        *,
        options: CallOptions = PLAIN,
    ) -> tuple[Answer, Reply | None]:
        """Send one request and judge its answer; the caller emits the step.

        With OAuth, a 401 to a token is answered once: the token replaced (counted) and the
        request sent again, its first step told as retried. A second 401, or no new token to
        send, leaves the 401 as the request's answer.
        """
        if self.auth is not None:  # tested here: without OAuth a request pays no call for it
            try:
                await self._authorize()
            except Failure as failure:
                return _unsent(method, tool, failure.outcome), None
        answer, reply = await self._exchange_once(method, params, tool, judge, headers, options=options)
        if self.auth is None or answer.outcome.kind is not Kind.HTTP_ERROR or answer.outcome.http_status != 401:
            return answer, reply
        refused = self._bearer
        try:
            await self._authorize(refused=refused)
        except Failure:
            return answer, reply  # counted in mcp_auth_errors; the server's 401 is the answer
        if self._bearer == refused:
            return answer, reply
        answer.step.note = "401: access token replaced and the request sent again"
        answer.step.retried = True
        self.sink(answer.step)
        self.meter.auth_refreshed()
        return await self._exchange_once(method, params, tool, judge, headers, options=options)

    async def _authorize(self, refused: str | None = None) -> None:
        """The transport carries a good access token (OAuth); raises the failure when none can be had."""
        provider = self.auth
        if provider is None:
            return
        token = provider.fresh() if refused is None else None
        if token is None:
            token = await provider.token(self.meter, refused=refused)
        if token != self._bearer:
            self._bearer = token
            self._transport.authorize(f"Bearer {token}")

    async def _exchange_once(
        self,
        method: str,
        params: JSONObject,
        tool: str | None,
        judge: Callable[[JSONObject], Outcome] | None,
        headers: dict[str, str] | None,
        *,
        options: CallOptions = PLAIN,
    ) -> tuple[Answer, Reply | None]:
        request_id = self._ids()
        if options.progress or self._meta is not None:
            params, headers = self._dressed(method, params, headers, request_id, options.progress)
        body = encode_request(request_id, method, params)
        result: JSONObject | None = None
        reply: Reply | None = None
        cancelled = False
        limit = self._settings.timeout if options.timeout is None else options.timeout
        if options.cancel_after is not None:
            limit = min(limit, options.cancel_after)
        t0 = time.perf_counter()
        try:
            deadline = asyncio.get_running_loop().time() + limit
            reply = await self._transport.request(request_id, body, headers, deadline)
            result = check_response(reply.message, request_id, http_status=reply.http_status)
            if self.modern and result.get("resultType") == INPUT_REQUIRED:
                result, reply = await self._input_rounds(method, params, headers, result, reply, deadline=deadline)
            outcome = judge_era(self.modern, method, result, self.target.client)
            if outcome.ok and judge is not None:
                outcome = judge(result)
            if not outcome.ok:
                outcome = self._private(outcome)
        except Exception as exc:
            outcome = self._classify(exc)
            if outcome.kind is Kind.TIMEOUT and method != "initialize":
                cancelled = self._cancel(request_id)
                outcome = _given_up(outcome, options, limit)
        done = reply.done_at if reply is not None else time.perf_counter()
        status = outcome.http_status or (reply.http_status if reply is not None else self._transport.status)
        step = Step(method, outcome, done - t0, status, tool, sent=len(body))
        if reply is not None:
            step.server_messages, step.received, step.framing = reply.server_messages, reply.received, reply.framing
        if options.progress:
            step.progress = self._progress.pop(request_id, 0)
        if cancelled or (outcome.ok and result is None):
            step.cancelled = True
            told = "" if self.modern else " (notifications/cancelled sent)"
            step.note = ("given up as the flow says: cancelled" if outcome.ok else "timed out: cancelled") + told
        return Answer(outcome, result if outcome.ok else None, step), reply

    def _dressed(
        self, method: str, params: JSONObject, headers: dict[str, str] | None, request_id: int, progress: bool
    ) -> tuple[JSONObject, dict[str, str] | None]:
        """The request as it goes: a progressToken (the request's own id, as the SDKs use), and from
        2026-07-28 the ``_meta`` every request carries and the headers that mirror it."""
        if progress:
            params = _with_meta(params, {"progressToken": request_id})
            self._progress[request_id] = 0
        if self._meta is not None:
            params = _with_meta(params, self._meta)
            mirrored = modern.request_headers(method, params)
            headers = {**mirrored, **headers} if headers else mirrored
        return params, headers

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
        if self.auth is not None:
            with contextlib.suppress(Failure):
                await self._authorize()  # none: the request goes as it is, and the server's answer is told
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

    def _private(self, outcome: Outcome) -> Outcome:
        """A failure without the session's cookie values in its reason: a server may echo them back."""
        jar = self._client.jar
        if jar is None or not outcome.reason:
            return outcome
        reason = jar.mask(outcome.reason)
        return outcome if reason == outcome.reason else replace(outcome, reason=reason)

    def _classify(self, exc: Exception) -> Outcome:
        outcome = self._private(classify_exception(exc, self._settings).outcome)
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

    def _cancel(self, request_id: int) -> bool:
        """Tell the server we gave up on a request, as the SDKs do: ``notifications/cancelled`` in the
        handshake era; from 2026-07-28 closing the request's stream is the cancellation, and the
        timeout closed it (the wire aborts a connection whose deadline passed)."""
        if not self.modern:
            body = encode_notification("notifications/cancelled", {"requestId": request_id, "reason": "client timeout"})
            self._spawn(self._transport.answer(body))
        return True


def _with_meta(params: JSONObject, meta: JSONObject) -> JSONObject:
    """``params`` with ``meta`` merged into its ``_meta`` (a progressToken beside the 2026-07-28 keys)."""
    have = params.get("_meta")
    return {**params, "_meta": {**have, **meta} if isinstance(have, dict) else meta}


def _given_up(outcome: Outcome, options: CallOptions, limit: float) -> Outcome:
    """A request that ran out of time: a failure, or, when the flow gives it up on purpose
    (``cancel_after``, as a user who stops a call), an ok step that was cancelled."""
    if options.cancel_after is not None and limit >= options.cancel_after:
        return OK
    if options.timeout is not None:
        return Outcome(Kind.TIMEOUT, f"no response within {limit:g}s (the request's own limit)")
    return outcome


def _unsent(method: str, tool: str | None, outcome: Outcome) -> Answer:
    """A request that never went out: no access token could be had for it."""
    return Answer(outcome, None, Step(method, outcome, 0.0, tool=tool, note="not sent: no access token", wire=False))
