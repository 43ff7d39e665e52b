"""Answering the server: its requests (ping with a result; sampling, elicitation and roots as
the client is configured to answer them; anything else with -32601) and its notifications (only
counted), sent in the background, bounded, and never measured as requests of ours, so they
never disturb the request metrics. How long each answer took is told to the meter."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable

from mcpgate.protocol.client_side import AnswerError, answers
from mcpgate.protocol.jsonrpc import JSONObject, RequestId, encode_error, encode_result
from mcpgate.protocol.outcome import shorten
from mcpgate.protocol.session_state import SessionState

MAX_MESSAGE_KINDS = 32  # distinct server message methods counted by name; the rest as "other"


class ServerMessages(SessionState):
    """The back channel: what the server sends a session, counted by method and answered."""

    def _on_server_message(self, message: JSONObject) -> None:
        method = message.get("method")
        request = "id" in message
        name = self._count_server_message(method, request)
        if not request or self.modern:
            return  # notifications are only counted; 2026-07-28 asks within results (session_rounds)
        if method == "ping":
            body = encode_result(message["id"], {})
        elif answers(self.target.client, method):
            params = message.get("params")
            work = self._answer_request(message["id"], name, str(method), params if isinstance(params, dict) else {})
            self._spawn(work)
            return
        else:
            body = encode_error(message["id"], -32601, f"mcpgate does not handle {shorten(name, 60)}")
        self._spawn(self._transport.answer(body))

    def _count_server_message(self, method: object, request: bool) -> str:
        name = method if isinstance(method, str) else "?"
        if name not in self.server_messages and len(self.server_messages) >= MAX_MESSAGE_KINDS:
            name = "other"
        self.server_messages[name] += 1
        self.meter.server_message(name, request)
        return name

    async def _answer_request(self, request_id: RequestId, name: str, method: str, params: JSONObject) -> None:
        """A server request answered as configured, timed from its receipt to our answer sent."""
        t0 = time.perf_counter()
        answer = await self._client_answer(method, params)
        if isinstance(answer, AnswerError):
            body = encode_error(request_id, answer.code, answer.message)
        else:
            body = encode_result(request_id, answer)
        await self._transport.answer(body)
        self.meter.server_request_answered(name, time.perf_counter() - t0)

    async def _client_answer(self, method: str, params: JSONObject) -> JSONObject | AnswerError:
        client = self.target.client
        if client is None:
            return AnswerError(-32601, f"mcpgate does not handle {shorten(method, 60)}")
        try:
            return await client.answer(method, params)
        except Exception as exc:  # an answer that cannot be made is the server's to hear, not a crash
            return AnswerError(-32603, shorten(f"mcpgate could not answer {method}: {exc}"))

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
