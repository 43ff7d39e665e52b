"""HTTP/1.1 on connections we own: the client every MCP request goes through.

Why not a general-purpose client: a load generator spends its CPU where the
server should be measured. This one does only what MCP over HTTP needs: keep-alive
connections pooled per origin, a request written in one ``write``, responses
parsed by llhttp (``httptools``, the parser uvicorn uses), bodies streamed as
they arrive (SSE) with flow control, gzip/deflate undone, TLS through the
standard ``ssl`` module, and every failure raised as one of the exceptions below,
so ``http.classify_exception`` can name it. Measured on one core against the
same stub: about three times the request rate of aiohttp's client.

No redirects are followed, no cookies kept and no proxy used: an MCP client
does none of these.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import ssl
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Generator, Mapping
from types import TracebackType
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import httptools

from mcpgate import __version__

USER_AGENT = f"mcpgate/{__version__}"
HIGH_WATER = 256 * 1024  # buffered body bytes before the socket is paused
LOW_WATER = 64 * 1024
MAX_IDLE_PER_ORIGIN = 1024
DNS_TTL = 300.0


# -- what can go wrong, by kind ----------------------------------------------------------------


class WireError(Exception):
    """Anything that kept a request from getting a whole response."""


class ConnectError(WireError):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


class DnsError(ConnectError):
    pass


class TlsError(ConnectError):
    def __init__(self, host: str, port: int, reason: str, *, certificate: bool) -> None:
        super().__init__(host, port, reason)
        self.certificate = certificate


class ConnectTimeout(ConnectError, TimeoutError):
    pass


class RequestTimeout(WireError, TimeoutError):
    """The deadline passed before the response was whole."""


class StreamIdle(WireError):
    """A held stream received no byte at all for its idle limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no bytes for {seconds:g}s")
        self.seconds = seconds


class ServerDisconnected(WireError):
    """The connection ended before any byte of a response."""


class BodyCutOff(WireError):
    """The connection ended after the headers, before the body was whole."""

    def __init__(self, reset: bool) -> None:
        super().__init__("connection reset mid-response" if reset else "connection closed mid-response")
        self.reset = reset


class InvalidResponse(WireError):
    """Bytes that are not HTTP/1.1."""


class BadEncoding(WireError):
    """A Content-Encoding the body does not actually have."""


# -- responses -----------------------------------------------------------------------------------


class Headers:
    """Response headers, case-insensitive; repeated fields joined with ", "."""

    __slots__ = ("_fields",)

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        key = name.lower()
        old = self._fields.get(key)
        self._fields[key] = value if old is None else f"{old}, {value}"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._fields.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields.items())


OnData = Callable[[bytes], None]
OnEnd = Callable[[BaseException | None], None]


class Body:
    """The body as it arrives: ``readany()`` returns what is there, b"" at the end.

    Or, once ``hold()`` is called, each piece is handed to a callback as the socket
    delivers it, and the end (or the failure) to another: a stream held for minutes
    then costs no task and no buffer, only its parser's state.
    """

    __slots__ = ("_chunks", "_conn", "_decoder", "_done", "_error", "_on_data", "_on_end", "_size", "_waiter")

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: Any = None  # zlib decompressobj for gzip/deflate
        self._on_data: OnData | None = None  # set by hold(): pushed, not buffered
        self._on_end: OnEnd | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def feed(self, data: bytes) -> None:
        if self._on_data is not None:
            self._push(data)
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > HIGH_WATER:
            self._conn.pause()
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        self._done = True
        self._error = error
        if self._on_end is not None:
            self._end()
            return
        self._wake()

    def hold(self, on_data: OnData, on_end: OnEnd) -> None:
        """From now on, push each piece to ``on_data`` and the end to ``on_end`` (once).

        What was already buffered goes first. The callbacks run inside the socket's
        callbacks: they must not raise, and must not block.
        """
        self._on_data, self._on_end = on_data, on_end
        while self._chunks and self._on_data is not None:
            data = self._chunks.popleft()
            self._size -= len(data)
            self._push(data)
        self._conn.resume()
        if self._done and self._on_end is not None:
            self._end()

    def _push(self, data: bytes) -> None:
        on_data = self._on_data
        assert on_data is not None
        if self._decoder is not None:
            try:
                data = self._decode(data)
            except BadEncoding as exc:
                self._done, self._error = True, exc
                self._end()
                return
        if data:
            on_data(data)

    def _end(self) -> None:
        on_data, on_end = self._on_data, self._on_end
        self._on_data = self._on_end = None
        if on_end is None:
            return
        error = self._error
        if error is None and self._decoder is not None:
            try:
                rest = self._flush_decoder()
            except BadEncoding as exc:
                error = exc
            else:
                if rest and on_data is not None:
                    on_data(rest)
        on_end(error)

    def at_eof(self) -> bool:
        return self._done and not self._chunks and self._error is None

    async def readany(self) -> bytes:
        """The next bytes of the body (decoded), or b"" once it is over."""
        while True:
            while not self._chunks:
                if self._done:
                    if self._error is not None:
                        raise self._error
                    return self._flush_decoder()
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            data = self._chunks.popleft()
            self._size -= len(data)
            if self._size < LOW_WATER:
                self._conn.resume()
            if self._decoder is None:
                return data
            decoded = self._decode(data)
            if decoded:  # a chunk can decode to nothing (a gzip header): read on
                return decoded

    async def read(self) -> bytes:
        parts = []
        while chunk := await self.readany():
            parts.append(chunk)
        return b"".join(parts)

    def _decode(self, data: bytes) -> bytes:
        try:
            out: bytes = self._decoder.decompress(data)
        except zlib.error as exc:
            raise BadEncoding(f"Content-Encoding does not match the body: {exc}") from None
        return out

    def _flush_decoder(self) -> bytes:
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return b""
        try:
            rest: bytes = decoder.flush()
        except zlib.error as exc:
            raise BadEncoding(f"Content-Encoding does not match the body: {exc}") from None
        return rest


class Response:
    __slots__ = ("_conn", "_pool", "content", "headers", "reason", "status", "version")

    def __init__(self, pool: Pool, conn: _Connection) -> None:
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


# -- one connection --------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """A socket, its parser, and the one response in flight on it."""

    def __init__(self, key: tuple[str, str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.head: asyncio.Future[None] | None = None
        self.bytes_in = 0  # bytes of the current response so far
        self.lost = False
        self.paused = False
        self.reused = False
        self.until_close = False  # body delimited by the end of the connection
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
        except httptools.HttpParserError as exc:
            self._fail(InvalidResponse(f"invalid HTTP response: {exc}"))

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
        self.response.reason = status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        response.status = self.parser.get_status_code()
        response.version = self.parser.get_http_version()
        self.keep_alive = self.parser.should_keep_alive()
        headers = response.headers
        chunked = "chunked" in (headers.get("transfer-encoding") or "").lower()
        no_body = response.status in (204, 304) or 100 <= response.status < 200
        self.until_close = not no_body and not chunked and "content-length" not in headers
        encoding = (headers.get("content-encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            response.content._decoder = zlib.decompressobj(wbits=31)
        elif encoding == "deflate":
            response.content._decoder = zlib.decompressobj(wbits=47)  # zlib or gzip header, auto
        head = self.head
        if head is not None and not head.done():
            head.set_result(None)

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is not None:  # None: a held stream closed itself while this chunk was parsed
            response.content.feed(bytes(body))

    def on_message_complete(self) -> None:
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


# -- the pool ----------------------------------------------------------------------------------


class Request:
    """What ``Pool.post`` returns: await it, or use it as ``async with ... as response``."""

    __slots__ = ("_args", "_pool", "_response")

    def __init__(self, pool: Pool, args: tuple[str, str, Headers_, bytes | None, float | None]) -> None:
        self._pool = pool
        self._args = args
        self._response: Response | None = None

    def __await__(self) -> Generator[Any, None, Response]:
        return self._pool.send(*self._args).__await__()

    async def __aenter__(self) -> Response:
        self._response = await self._pool.send(*self._args)
        return self._response

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            if exc is None:
                self._response.release()
            else:
                self._response.close()


Headers_ = Mapping[str, str] | bytes | None  # a mapping, or header lines already encoded (the hot path)


class _Origin:
    """A URL parsed once: its pool key and the first lines of every request to it."""

    __slots__ = ("_prefixes", "key", "parts")

    def __init__(self, url: str, user_agent: str) -> None:
        parts = self.parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.key = (parts.scheme, parts.hostname or "", port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc = parts.netloc.rpartition("@")[2]
        lines = f"{{method}} {target} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: {user_agent}\r\n"
        self._prefixes = {m: lines.replace("{method}", m, 1).encode("latin-1") for m in ("POST", "GET", "DELETE")}

    def prefix(self, method: str) -> bytes:
        return self._prefixes[method]


def header_block(headers: Mapping[str, str], url: str | None = None) -> bytes:
    """Header lines encoded once, for ``Pool.post(headers=...)`` on the hot path.

    Host, User-Agent and Content-Length come from the pool. As on the mapping path, a
    gzip/deflate Accept-Encoding and the URL's user:password (as Basic auth) are added
    unless the headers already say otherwise.
    """
    given = {name.lower() for name in headers}
    lines = [header_lines(headers).decode("latin-1")]
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    if url is not None and "authorization" not in given:
        basic = _basic_auth(urlsplit(url))
        if basic is not None:
            lines.append(f"Authorization: {basic}\r\n")
    return "".join(lines).encode("latin-1")


def header_lines(headers: Mapping[str, str]) -> bytes:
    """Just these header lines, encoded: to append to a ``header_block``."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


def _basic_auth(parts: Any) -> str | None:
    if parts.password is None:
        return None
    raw = f"{unquote(parts.username or '')}:{unquote(parts.password)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Pool:
    """Keep-alive connections per origin, shared by every virtual user of a process."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        verify_tls: bool = True,
        ca_file: str | None = None,
        limit: int = 0,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._slots = asyncio.Semaphore(limit) if limit > 0 else None
        self._holding: set[_Connection] = set()
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._user_agent = user_agent
        self._tls: ssl.SSLContext | None = None
        self._verify_tls = verify_tls
        self._ca_file = ca_file
        self._closed = False
        self._origins: dict[str, _Origin] = {}

    # the aiohttp-shaped surface the transports use

    def post(
        self,
        url: str,
        *,
        data: bytes,
        headers: Headers_ = None,
        deadline: float | None = None,
    ) -> Request:
        return Request(self, ("POST", url, headers, data, deadline))

    def get(self, url: str, *, headers: Headers_ = None, deadline: float | None = None) -> Request:
        return Request(self, ("GET", url, headers, None, deadline))

    def delete(self, url: str, *, headers: Headers_ = None, deadline: float | None = None) -> Request:
        return Request(self, ("DELETE", url, headers, None, deadline))

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    # sending

    async def send(
        self, method: str, url: str, headers: Headers_, body: bytes | None, deadline: float | None = None
    ) -> Response:
        origin = self._origins.get(url) or self._origin(url)
        if isinstance(headers, bytes):  # a pre-encoded block: the hot path
            head = origin.prefix(method) + headers + (b"Content-Length: %d\r\n\r\n" % len(body) if body else b"\r\n")
        else:
            head = self._head(method, origin.parts, headers, body)
        payload = head + body if body else head
        loop = asyncio.get_running_loop()
        for attempt in (0, 1):
            conn = await self._connection(origin.key, deadline)
            response = Response(self, conn)
            waiting = conn.begin(response, loop, deadline)
            assert conn.transport is not None
            conn.transport.write(payload)
            try:
                await waiting
            except ServerDisconnected:
                self.release(conn, reusable=False)
                # A kept-alive connection the server had already closed: it never saw this request.
                if attempt == 0 and conn.reused and conn.bytes_in == 0:
                    continue
                raise
            except BaseException:
                self.release(conn, reusable=False)
                raise
            return response
        raise AssertionError("unreachable")

    def _head(self, method: str, parts: Any, headers: Mapping[str, str] | None, body: bytes | None) -> bytes:
        """The request line and headers, ready to write: one string join, one encode."""
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc = parts.netloc.rpartition("@")[2]
        lines = [f"{method} {target} HTTP/1.1", f"Host: {netloc}", f"User-Agent: {self._user_agent}"]
        given = {k.lower() for k in headers} if headers else set()
        if headers:
            lines.extend(f"{name}: {value}" for name, value in headers.items())
        if "accept-encoding" not in given:
            lines.append("Accept-Encoding: gzip, deflate")
        basic = _basic_auth(parts) if "authorization" not in given else None
        if basic is not None:
            lines.append(f"Authorization: {basic}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("latin-1")

    def _origin(self, url: str) -> _Origin:
        origin = _Origin(url, self._user_agent)
        if len(self._origins) < 64:
            self._origins[url] = origin
        return origin

    # connections

    async def _connection(self, key: tuple[str, str, int], deadline: float | None) -> _Connection:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
                conn.reused = True
                self._holding.add(conn)
                return conn
            self._forget(conn)
        if self._slots is not None:
            if deadline is not None and self._slots.locked():
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._slots.acquire()
                except TimeoutError:
                    raise RequestTimeout("no connection free before the deadline") from None
            else:
                await self._slots.acquire()
        try:
            conn = await self._connect(key, deadline)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        self._open.add(conn)
        self._holding.add(conn)
        return conn

    def release(self, conn: _Connection, *, reusable: bool) -> None:
        conn.disarm()
        self._holding.discard(conn)
        conn.response = None
        conn.head = None
        if reusable and conn.keep_alive and conn.complete and conn.usable() and not self._closed:
            idle = self._idle.setdefault(conn.key, [])
            if len(idle) < MAX_IDLE_PER_ORIGIN:
                conn.resume()
                idle.append(conn)
                return
        conn.close()
        self._forget(conn)

    def _forget(self, conn: _Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            if self._slots is not None:
                self._slots.release()

    async def _connect(self, key: tuple[str, str, int], deadline: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        give_up = loop.time() + self._connect_timeout
        late = deadline is not None and deadline < give_up  # the request's deadline comes first
        try:
            async with asyncio.timeout_at(deadline if late and deadline is not None else give_up):
                address = await self._resolve(host, port)
                _, conn = await loop.create_connection(
                    lambda: _Connection(key),
                    address,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except TimeoutError:
            if late:
                raise RequestTimeout("the deadline passed while connecting") from None
            raise ConnectTimeout(host, port, f"connect timed out after {self._connect_timeout:g}s") from None
        except ssl.SSLCertVerificationError as exc:
            raise TlsError(host, port, exc.verify_message or str(exc), certificate=True) from None
        except ssl.SSLError as exc:
            raise TlsError(host, port, exc.reason or str(exc), certificate=False) from None
        except ConnectionResetError as exc:
            if tls is not None:  # a plain-HTTP server answers a TLS hello by closing
                raise TlsError(host, port, "connection reset during the TLS handshake", certificate=False) from None
            raise ConnectError(host, port, _os_reason(exc)) from None
        except OSError as exc:
            raise ConnectError(host, port, _os_reason(exc)) from None
        return conn

    async def _resolve(self, host: str, port: int) -> str:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            pass
        else:
            return host
        cached = self._dns.get((host, port))
        now = time.monotonic()
        if cached is not None and now - cached[0] < DNS_TTL:
            return cached[1][0]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise DnsError(host, port, f"DNS lookup failed for {host}") from None
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise DnsError(host, port, f"DNS lookup failed for {host}")
        self._dns[(host, port)] = (now, addresses)
        return addresses[0]

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            if self._verify_tls:
                context = ssl.create_default_context(cafile=self._ca_file)
            else:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls


def _os_reason(exc: OSError) -> str:
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__
