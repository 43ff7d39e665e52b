"""The standalone GET stream of a Streamable HTTP session, held as the official clients hold it.

Opened right after notifications/initialized (or when asked), reconnected when the server
ends it (after its ``retry``, with ``Last-Event-ID``), dropped before the DELETE. A 405
says the server offers none; the target remembers it, so no later session asks again.
"""

from __future__ import annotations

import asyncio
import time

from mcpgate.protocol.outcome import OK, Outcome
from mcpgate.protocol.records import Step
from mcpgate.protocol.session_exchange import Exchanging
from mcpgate.protocol.streamable_http import StreamableHttpTransport
from mcpgate.protocol.transport import SSE_LISTEN, SessionMeter, Streams

RECONNECT_DELAY = 1.0  # seconds before the GET stream is opened again, when the server named no retry
MAX_RECONNECT_WAIT = 30.0  # a server's retry field is obeyed up to this
MIN_RECONNECT_WAIT = 0.1  # and from this: a retry of 0 must not become a loop


class Listening(Exchanging):
    """Whether a session holds the GET stream, opening it, and opening it again."""

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
