"""A server-to-client SSE stream held open for a session's life.

Two streams are held: the standalone GET stream of Streamable HTTP (the one the
official clients open after ``notifications/initialized``), and the legacy
HTTP+SSE stream every 2024-11-05 session lives on. Thousands of them at once is
what finds a server's limits, so holding one must cost us next to nothing: no
task reads it. The wire hands each piece to ``_data`` as the socket delivers it
(``Response.hold``), a silence longer than the idle limit is noticed by one lazy
timer on the connection, and the end is classified exactly once:

    we closed it (the session ended)          ok
    the server closed it after a ``retry:``   ok: SSE polling, the client reconnects (Streamable HTTP only)
    the server closed it, or the connection   stream_closed
      was cut
    no byte, not even a keepalive comment,    stream_stalled (we close it)
      for the idle limit
    an event that is not SSE or JSON-RPC      protocol_error (we close it)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mcpgate.protocol.http import HttpSettings, classify_exception
from mcpgate.protocol.outcome import OK, Failure, Kind, Outcome
from mcpgate.protocol.sse import SSEError, SSEEvent, SSEParser
from mcpgate.protocol.transport import SessionMeter
from mcpgate.protocol.wire.connection import Response
from mcpgate.protocol.wire.errors import BodyCutOff, StreamIdle

OnEvent = Callable[[SSEEvent], None]  # may raise Failure: the stream then ends with its outcome
OnEnd = Callable[[Outcome, BaseException | None], None]  # the outcome, and what caused it (None: a clean end)

_CLASSIFY = HttpSettings()  # a held stream has no request deadline, so no setting shapes its failures


class HeldStream:
    __slots__ = (
        "_idle",
        "_meter",
        "_on_end",
        "_on_event",
        "_polling",
        "_resp",
        "method",
        "opened",
        "outcome",
        "parser",
    )

    def __init__(
        self,
        resp: Response,
        parser: SSEParser,
        *,
        method: str,
        meter: SessionMeter,
        on_event: OnEvent,
        on_end: OnEnd,
        idle: float,
        polling: bool,
    ) -> None:
        self._resp = resp
        self.parser = parser
        self.method = method  # the step that opened it: sse/listen or sse/connect
        self._meter = meter
        self._on_event = on_event
        self._on_end = on_end
        self._polling = polling  # a close after a retry: field is a reconnect request, not a loss
        self._idle = idle
        self.opened = time.perf_counter()
        self.outcome: Outcome | None = None  # how it ended, once it has
        meter.stream_opened(method)

    def start(self) -> None:
        """Read it from now on. Call once the owner holds it: what already arrived (even its end)
        is handed over at once, so ``on_end`` may run before this returns."""
        self._resp.hold(self._data, self._ended, idle=self._idle)

    @property
    def open(self) -> bool:
        return self.outcome is None

    def close(self) -> None:
        """End it from our side: the session is over, which is how a held stream should end."""
        if self.outcome is None:
            self._finish(OK, None, tell=False)

    # -- called from the socket's callbacks: never raise -------------------------------------

    def _data(self, chunk: bytes) -> None:
        if self.outcome is not None:
            return
        try:
            events = self.parser.feed(chunk)
        except SSEError as exc:
            self._finish(Outcome(Kind.PROTOCOL_ERROR, str(exc)), exc)
            return
        self._meter.stream_data(len(chunk), len(events))
        for event in events:
            try:
                self._on_event(event)
            except Failure as failure:
                self._finish(failure.outcome, failure)
                return
            if self.outcome is not None:
                return

    def _ended(self, error: BaseException | None) -> None:
        if self.outcome is None:
            self._finish(self._why(error), error)

    def _why(self, error: BaseException | None) -> Outcome:
        lived = f"after {time.perf_counter() - self.opened:.1f}s"
        if error is None:
            if self._polling and self.parser.retry is not None and not self.parser.partial:
                return OK  # SSE polling: the server asked us to come back in `retry` ms
            cut = " mid-event" if self.parser.partial else ""
            return Outcome(Kind.STREAM_CLOSED, f"the server ended the stream{cut} {lived}")
        if isinstance(error, StreamIdle):
            return Outcome(Kind.STREAM_STALLED, f"no bytes, not even a keepalive, for {error.seconds:g}s")
        if isinstance(error, BodyCutOff):
            how = "reset" if error.reset else "closed"
            return Outcome(Kind.STREAM_CLOSED, f"connection {how} mid-stream {lived}")
        return classify_exception(error, _CLASSIFY).outcome

    def _finish(self, outcome: Outcome, cause: BaseException | None, *, tell: bool = True) -> None:
        self.outcome = outcome
        self._resp.reset()
        self._meter.stream_ended(self.method, time.perf_counter() - self.opened, outcome)
        if tell:
            self._on_end(outcome, cause)
