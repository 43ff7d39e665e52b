"""The client's surface: a pool of keep-alive connections per origin, and the requests sent on it.

A request's first lines are encoded once per URL (``_Origin``) and its headers, on the
hot path, once per session (``header_block``): sending one joins bytes and writes them.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine, Generator, Mapping
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from mcpgate import __version__
from mcpgate.protocol.wire.connection import Connection, Key, Response
from mcpgate.protocol.wire.dial import Dialer
from mcpgate.protocol.wire.errors import RequestTimeout, ServerDisconnected
from mcpgate.protocol.wire.proxy import ProxyRules
from mcpgate.support.tls import TlsSettings

USER_AGENT = f"mcpgate/{__version__}"
MAX_IDLE_PER_ORIGIN = 1024


RequestHeaders = Mapping[str, str] | bytes | None  # a mapping, or header lines already encoded (the hot path)
SendArgs = tuple[str, str, RequestHeaders, bytes | None, float | None]  # method, URL, headers, body, deadline


class Sender(Protocol):
    """What sends a request: the pool, or a session's view of it (``protocol.session_http``)."""

    def send(
        self, method: str, url: str, headers: RequestHeaders, body: bytes | None, deadline: float | None = None
    ) -> Coroutine[Any, Any, Response]: ...


class Request:
    """What ``post``/``get``/``delete`` return: await it, or use it as ``async with ... as response``."""

    __slots__ = ("_args", "_pool", "_response")

    def __init__(self, pool: Sender, args: SendArgs) -> None:
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


class _Origin:
    """A URL parsed once: its pool key, its route (direct or which proxy) and the first lines of every
    request to it."""

    __slots__ = ("_prefixes", "key", "parts")

    def __init__(self, url: str, user_agent: str, proxies: ProxyRules | None = None) -> None:
        parts = self.parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        proxy = proxies.route(parts.scheme, host, port) if proxies is not None else None
        self.key: Key = (parts.scheme, host, port, proxy)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc = parts.netloc.rpartition("@")[2]
        lines = f"{{method}} {target} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: {user_agent}\r\n"
        if proxy is not None and parts.scheme == "http":  # forwarded by the proxy: the absolute form
            lines = lines.replace(f" {target} ", f" http://{netloc}{target} ", 1)
            if proxy.authorization:
                lines += f"Proxy-Authorization: {proxy.authorization}\r\n"
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
        tls: TlsSettings | None = None,
        proxies: ProxyRules | None = None,
        limit: int = 0,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._dialer = Dialer(connect_timeout=connect_timeout, tls=tls, proxies=proxies)
        self._idle: dict[Key, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._slots = asyncio.Semaphore(limit) if limit > 0 else None
        self._holding: set[Connection] = set()
        self._user_agent = user_agent
        self._closed = False
        self._origins: dict[str, _Origin] = {}

    # the aiohttp-shaped surface the transports use

    def post(
        self,
        url: str,
        *,
        data: bytes,
        headers: RequestHeaders = None,
        deadline: float | None = None,
    ) -> Request:
        return Request(self, ("POST", url, headers, data, deadline))

    def get(self, url: str, *, headers: RequestHeaders = None, deadline: float | None = None) -> Request:
        return Request(self, ("GET", url, headers, None, deadline))

    def delete(self, url: str, *, headers: RequestHeaders = None, deadline: float | None = None) -> Request:
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
        self, method: str, url: str, headers: RequestHeaders, body: bytes | None, deadline: float | None = None
    ) -> Response:
        origin = self._origins.get(url) or self._origin(url)
        if isinstance(headers, bytes):  # a pre-encoded block: the hot path
            head = origin.prefix(method) + headers + (b"Content-Length: %d\r\n\r\n" % len(body) if body else b"\r\n")
        else:
            head = self._head(method, origin, headers, body)
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

    def _head(self, method: str, origin: _Origin, headers: Mapping[str, str] | None, body: bytes | None) -> bytes:
        """The request line and headers, ready to write: the origin's first lines, then one join."""
        lines: list[str] = []
        given = {k.lower() for k in headers} if headers else set()
        if headers:
            lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if "accept-encoding" not in given:
            lines.append("Accept-Encoding: gzip, deflate\r\n")
        basic = _basic_auth(origin.parts) if "authorization" not in given else None
        if basic is not None:
            lines.append(f"Authorization: {basic}\r\n")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        return origin.prefix(method) + "".join(lines).encode("latin-1")

    def _origin(self, url: str) -> _Origin:
        origin = _Origin(url, self._user_agent, self._dialer.proxies)
        if len(self._origins) < 64:
            self._origins[url] = origin
        return origin

    # connections

    async def _connection(self, key: Key, deadline: float | None) -> Connection:
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
            conn = await self._dialer.connect(key, deadline)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        self._open.add(conn)
        self._holding.add(conn)
        return conn

    def release(self, conn: Connection, *, reusable: bool) -> None:
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

    def _forget(self, conn: Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            if self._slots is not None:
                self._slots.release()
