"""A response's headers and its body as it arrives: buffered with flow control, or
pushed to callbacks (a held stream), and gzip/deflate undone on the way."""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from mcpgate.protocol.wire.errors import BadEncoding

HIGH_WATER = 256 * 1024  # buffered body bytes before the socket is paused
LOW_WATER = 64 * 1024


class Headers:
    """Response headers, case-insensitive; repeated fields joined with ", ".

    ``Set-Cookie`` fields are also kept one by one (``cookies``), since a cookie's Expires holds
    a comma; None when the response set none, so a session's jar costs one test per response.
    """

    __slots__ = ("_fields", "cookies")

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self.cookies: list[str] | None = None

    def add(self, name: str, value: str) -> None:
        key = name.lower()
        if key == "set-cookie":
            if self.cookies is None:
                self.cookies = [value]
            else:
                self.cookies.append(value)
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


class Valve(Protocol):
    """What a body needs of its connection: to stop the socket when too much is buffered."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Body:
    """The body as it arrives: ``readany()`` returns what is there, b"" at the end.

    Or, once ``hold()`` is called, each piece is handed to a callback as the socket
    delivers it, and the end (or the failure) to another: a stream held for minutes
    then costs no task and no buffer, only its parser's state.
    """

    __slots__ = ("_chunks", "_conn", "_done", "_error", "_on_data", "_on_end", "_size", "_waiter", "decoder")

    def __init__(self, conn: Valve) -> None:
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.decoder: Any = None  # a zlib decompressobj, set by the connection for gzip/deflate
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
        if self.decoder is not None:
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
        if error is None and self.decoder is not None:
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
            if self.decoder is None:
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
            out: bytes = self.decoder.decompress(data)
        except zlib.error as exc:
            raise BadEncoding(f"Content-Encoding does not match the body: {exc}") from None
        return out

    def _flush_decoder(self) -> bytes:
        decoder, self.decoder = self.decoder, None
        if decoder is None:
            return b""
        try:
            rest: bytes = decoder.flush()
        except zlib.error as exc:
            raise BadEncoding(f"Content-Encoding does not match the body: {exc}") from None
        return rest
