"""Tiny TCP servers that answer with exactly the bytes a case gives: the wire-conformance suite's peers.

A case is ``async def case(conn: RawConn) -> None``: it reads requests (``await conn.request()``)
and writes bytes (``conn.send(...)``, ``await conn.pause(s)`` between segments, so a test
decides how the response is split). The server runs on its own loop in a thread, so sync
tests (the CLI in a subprocess) and async ones (the wire client in the test's loop) can both
use it; it records every request's head for the test to inspect.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class RawRequest:
    line: str  # "POST /mcp HTTP/1.1"
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def method(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        return self.line.split(" ")[1]


@dataclass
class RawConn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    seen: list[RawRequest] = field(default_factory=list)

    async def request(self) -> RawRequest | None:
        """The next request on this connection, or None when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        headers = [(k.strip(), v.strip()) for k, _, v in (x.partition(":") for x in lines[1:] if x)]
        req = RawRequest(lines[0], headers, b"")
        length = req.header("content-length")
        if length:
            req.body = await self.reader.readexactly(int(length))
        self.seen.append(req)
        return req

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def pause(self, seconds: float = 0.05) -> None:
        """Flush what was sent, then wait: the next bytes arrive in their own segment."""
        await self.writer.drain()
        await asyncio.sleep(seconds)

    def close(self) -> None:
        self.writer.close()


Case = Callable[[RawConn], Awaitable[None]]


class RawServer:
    """One case served on 127.0.0.1 from a thread; ``requests`` lists every request any connection sent."""

    def __init__(self, case: Case, host: str = "127.0.0.1") -> None:
        self._case = case
        self._host = host
        self.requests: list[RawRequest] = []
        self.connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop: asyncio.Event | None = None

    @property
    def base(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/mcp") -> str:
        return self.base + path

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, self._host, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = RawConn(reader, writer, self.requests)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await self._case(conn)
            await writer.drain()
        writer.close()

    def start(self) -> RawServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("raw server did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@contextlib.contextmanager
def serving(case: Case, host: str = "127.0.0.1") -> Iterator[RawServer]:
    server = RawServer(case, host).start()
    try:
        yield server
    finally:
        server.stop()


def response(status: int, body: bytes = b"", *headers: str, reason: str = "OK") -> bytes:
    """A whole HTTP/1.1 response with a Content-Length: the usual case's bytes."""
    lines = [f"HTTP/1.1 {status} {reason}", *headers, f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body
