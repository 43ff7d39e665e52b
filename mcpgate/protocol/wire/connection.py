"""One connection: its socket, its llhttp parser, and the one response in flight on it.

The parser's callbacks fill in the ``Response``; one timer per request bounds it (the
deadline), or, once its body is held, bounds the silence between bytes. The parser is as
lenient as aiohttp's (obs-folded and LF-only header lines, spaces after a chunk size) and
no more; interim (1xx) responses are skipped, and the head is capped in bytes and fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import zlib
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from mcpgate.protocol.wire.body import MAX_HEADER_FIELDS, Body, Headers, NulChecked, OnData, OnEnd, decoder_for
from mcpgate.protocol.wire.errors import (
    BodyCutOff,
    HeaderLimit,
    InvalidResponse,
    RequestTimeout,
    ServerDisconnected,
    StreamIdle,
    WireError,
)

if TYPE_CHECKING:
    from mcpgate.protocol.wire.proxy import Proxy

# scheme, host, port and the proxy (None: direct): the connections of one origin, by one route
Key = tuple[str, str, int, "Proxy | None"]

# The whole head (status lines and header fields of the interim responses and the final one):
# far above any real server's, far below what would let one response hold a VU's memory.
MAX_HEAD_BYTES = 256 * 1024


def response_parser(protocol: object, *, lenient_values: bool) -> httptools.HttpResponseParser:
    """llhttp with aiohttp's leniencies: LF-only lines and spaces after a chunk size always;
    its lenient header values (obs-fold, control bytes) only where ``lenient_values``."""
    parser = httptools.HttpResponseParser(protocol)
    parser.set_dangerous_leniencies(
        lenient_headers=lenient_values, lenient_optional_cr_before_lf=True, lenient_spaces_after_chunk_size=True
    )
    return parser


class _Lenient:
    """The callbacks of a head parsed again with lenient values: the connection's, with each
    value checked for a NUL byte (which aiohttp refuses even then), and, once the answer is
    whole, a strict parser again for the next response."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.on_status, self.on_header = conn.on_status, conn.on_header
        self.on_headers_complete, self.on_body = conn.on_headers_complete, conn.on_body

    def on_message_complete(self) -> None:
        conn = self.conn
        conn.on_message_complete()
        if not conn.heading:
            conn.parser = conn.strict = response_parser(conn, lenient_values=False)


class Keeper(Protocol):
    """Where a connection goes when its response is done with: the pool."""

    def release(self, conn: Connection, *, reusable: bool) -> None: ...


class Response:
    """What a request gets back: status, headers, and the body as it arrives on ``conn``."""

    __slots__ = ("_conn", "_pool", "content", "headers", "reason", "status", "version")

    def __init__(self, pool: Keeper, conn: Connection) -> None:
        self._pool = pool
        self._conn = conn
        self.status = 0
        self.reason = ""
        self.version = ""
        self.headers = Headers()
        self.content = Body(conn)

    @property
    def content_type(self) -> str:
        raw = self.headers.get("content-type")
        if not raw:
            return ""
        return raw.split(";", 1)[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        raw = self.headers.get("content-length")
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    async def read(self) -> bytes:
        return await self.content.read()

    def hold(self, on_data: OnData, on_end: OnEnd, *, idle: float = 0.0) -> None:
        """Keep reading this body for as long as it lasts, without a task (see ``Body.hold``).

        The request's deadline no longer applies; with ``idle`` > 0 the stream fails with
        ``StreamIdle`` once no byte at all has arrived for that many seconds. ``close()``
        ends it from our side, silently (``on_end`` is not called).
        """
        self._conn.watch_idle(idle)
        self.content.hold(on_data, on_end)

    def release(self) -> None:
        """Give the connection back when the body is whole; otherwise it cannot be reused."""
        self._pool.release(self._conn, reusable=self.content.at_eof())

    def close(self) -> None:
        self._pool.release(self._conn, reusable=False)

    def reset(self) -> None:
        """Close the connection with a reset: for a body that never ends (a held stream), which
        cannot be reused anyway; a normal close would leave a TIME_WAIT socket here for each one,
        and at hundreds of sessions a second those exhaust the ephemeral ports."""
        self._conn.linger_zero()
        self._pool.release(self._conn, reusable=False)


class Connection(asyncio.Protocol):
    """A socket, its parser, and the one response in flight on it."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        # Strict about header values, which costs nothing; a head that fails so is parsed again
        # with aiohttp's lenient values (see _misparsed), so only such a head pays for the checks.
        self.parser = self.strict = response_parser(self, lenient_values=False)
        self.kept: list[bytes] = []  # the segments of a head not yet over, for parsing it again
        self.response: Response | None = None
        self.head: asyncio.Future[None] | None = None
        self.bytes_in = 0  # bytes of the current response so far
        self.lost = False
        self.paused = False
        self.reused = False
        self.until_close = False  # body delimited by the end of the connection
        self.heading = False  # True from a request's start until its final response's head
        self.complete = True
        self.keep_alive = True
        self.timer: asyncio.TimerHandle | None = None
        self.idle = 0.0  # > 0 while a held stream is watched for silence
        self.rx_at = 0.0  # loop time of the last byte, while watched

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.idle:
            self.rx_at = asyncio.get_running_loop().time()
        if self.response is None:
            return  # nobody asked: bytes after a response we gave up on
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            error: Exception = exc
        else:
            if self.heading:
                self._keep(data)
            return
        self._misparsed(error, data)  # outside the handler: a second parse's errors keep their own cause

    def _keep(self, data: bytes) -> None:
        """A segment that ends inside the head: kept, in case the head must be parsed again."""
        if self.bytes_in > MAX_HEAD_BYTES:
            self._fail(HeaderLimit(f"response head exceeds the {MAX_HEAD_BYTES}-byte limit"))
        elif self.bytes_in == len(data):
            self.kept = [data]  # the response's first segment
        else:
            self.kept.append(data)

    def _misparsed(self, exc: Exception, data: bytes) -> None:
        cause = exc.__context__
        if isinstance(cause, WireError):
            self._fail(cause)
            return
        if self.heading and self.parser is self.strict and not isinstance(exc, httptools.HttpParserUpgrade):
            # What aiohttp reads leniently (obs-fold, control bytes): this head again, from its start.
            response = self.response
            assert response is not None
            response.status, response.reason, response.headers = 0, "", NulChecked()
            self.parser = response_parser(_Lenient(self), lenient_values=True)
            segments = self.kept if self.bytes_in > len(data) else []
            try:
                for segment in (*segments, data):
                    self.parser.feed_data(segment)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as again:
                exc, cause = again, again.__context__
            else:
                if self.heading:
                    self._keep(data)
                return
        self._fail(cause if isinstance(cause, WireError) else InvalidResponse(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.response is None:
            return
        head = self.head
        if head is not None and not head.done():
            head.set_exception(ServerDisconnected("server closed the connection before responding"))
        elif not self.complete:
            if self.until_close and exc is None:
                self.complete = True
                self.response.content.finish()
            else:
                self.response.content.finish(BodyCutOff(reset=isinstance(exc, ConnectionResetError)))

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        assert self.response is not None
        self.response.reason += status.decode("latin-1")  # in pieces when it spans segments

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        status = response.status = self.parser.get_status_code()
        if status < 200:
            self._interim(response)
            return
        self.heading = False
        headers = response.headers
        # the field count read directly: a __len__ call per response costs more than the test
        if headers.repeats + len(headers._fields) > MAX_HEADER_FIELDS or self.bytes_in > MAX_HEAD_BYTES:
            headers.check(MAX_HEAD_BYTES)
        response.version = self.parser.get_http_version()
        self.keep_alive = self.parser.should_keep_alive()
        chunked = "chunked" in (headers.get("transfer-encoding") or "").lower()
        self.until_close = not chunked and status not in (204, 304) and "content-length" not in headers
        encoding = headers.get("content-encoding")
        if encoding is not None:  # gzip, the usual one, without a call to parse a list
            response.content.decoder = zlib.decompressobj(wbits=31) if encoding == "gzip" else decoder_for(encoding)
        head = self.head
        if head is not None and not head.done():
            head.set_result(None)

    def _interim(self, response: Response) -> None:
        """A 1xx before the answer (100 Continue, 103 Early Hints): skipped, its headers dropped.

        101 is refused: no request of ours asks to switch protocols, so what follows is not HTTP.
        """
        status = response.status
        if status == 101:
            raise InvalidResponse("101 Switching Protocols, though no request asks to switch")
        headers = response.headers
        if "content-length" in headers or "transfer-encoding" in headers:
            raise InvalidResponse(f"interim response {status} declares a body")
        response.headers = headers.fresh()
        response.reason = ""
        response.status = 0

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is not None:  # None: a held stream closed itself while this chunk was parsed
            response.content.feed(bytes(body))

    def on_message_complete(self) -> None:
        if self.heading:
            return  # the end of an interim response: the answer is still to come
        self.complete = True
        if self.response is not None:
            self.response.content.finish()

    # flow control and failure

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.lost:
            self.paused = False
            self.transport.resume_reading()

    def _fail(self, error: WireError) -> None:
        head = self.head
        if head is not None and not head.done():
            head.set_exception(error)
        elif self.response is not None:
            self.response.content.finish(error)
        self.keep_alive = False
        if self.transport is not None:
            self.transport.abort()

    def begin(
        self, response: Response, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> asyncio.Future[None]:
        self.response = response
        self.complete = False
        self.until_close = False
        self.heading = True
        self.bytes_in = 0
        self.idle = 0.0
        self.head = loop.create_future()
        if deadline is not None:
            # One timer per request, armed here and disarmed on release: cheaper than a Task-level
            # timeout, and it ends a stalled read whether the headers or the body are late.
            self.timer = loop.call_at(deadline, self._expire)
        return self.head

    def _expire(self) -> None:
        self.timer = None
        self._fail(RequestTimeout("the deadline passed"))

    def watch_idle(self, seconds: float) -> None:
        """Replace the request's deadline with a silence limit (0: none).

        Lazily: one timer per limit, which on firing moves itself to the last byte's time
        plus the limit, so a stream that keeps talking costs one wake-up per limit, and a
        byte costs a clock read, never a timer reschedule.
        """
        self.disarm()
        self.idle = seconds
        if seconds > 0:
            loop = asyncio.get_running_loop()
            self.rx_at = loop.time()
            self.timer = loop.call_at(self.rx_at + seconds, self._idle_check)

    def _idle_check(self) -> None:
        self.timer = None
        loop = asyncio.get_running_loop()
        due = self.rx_at + self.idle
        if loop.time() < due:
            self.timer = loop.call_at(due, self._idle_check)
            return
        self._fail(StreamIdle(self.idle))

    def disarm(self) -> None:
        self.idle = 0.0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def linger_zero(self) -> None:
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def usable(self) -> bool:
        return not self.lost and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.disarm()
        self.response = None
        if self.transport is not None:
            self.transport.abort()
