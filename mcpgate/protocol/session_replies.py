"""Answering the server: its requests (ping with a result, anything else with -32601) and
its notifications (only counted), sent in the background, bounded, and never measured,
so they never disturb the request metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

from mcpgate.protocol.jsonrpc import JSONObject, encode_error, encode_result
from mcpgate.protocol.outcome import shorten
from mcpgate.protocol.session_state import SessionState

MAX_MESSAGE_KINDS = 32  # distinct server message methods counted by name; the rest as "other"


class ServerMessages(SessionState):
    """The back channel: what the server sends a session, counted by method and answered."""

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
