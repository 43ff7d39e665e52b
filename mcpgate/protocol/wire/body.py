"""A response's headers and its body as it arrives: buffered with flow control, or
pushed to callbacks (a held stream), and its Content-Encoding undone on the way: gzip and
deflate (zlib-wrapped or raw), stacked in any order; any other coding is named, never passed on."""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from mcpgate.protocol.wire.errors import BadEncoding, HeaderLimit, InvalidResponse, UnknownEncoding

HIGH_WATER = 256 * 1024  # buffered body bytes before the socket is paused
LOW_WATER = 64 * 1024
MAX_HEADER_FIELDS = 128  # aiohttp's limit: far above any real response


class Headers:
    """Response headers, case-insensitive; repeated fields joined with ", ".

    ``Set-Cookie`` fields are also kept one by one (``cookies``), since a cookie's Expires holds
    a comma; None when the response set none, so a session's jar costs one test per response.
    """

    __slots__ = ("_fields", "cookies", "repeats")

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self.cookies: list[str] | None = None
        self.repeats = 0  # fields whose name came before: capped as they come, joins grow

    def add(self, name: str, value: str) -> None:
        key = name.lower()
        if key == "set-cookie":
            if self.cookies is None:
                self.cookies = [value]
            else:
                self.cookies.append(value)
        old = self._fields.get(key)
        if old is None:
            self._fields[key] = value
            return
        self.repeats += 1
        if self.repeats + len(self._fields) > MAX_HEADER_FIELDS:
            raise HeaderLimit(f"response has more than {MAX_HEADER_FIELDS} header fields")
        self._fields[key] = f"{old}, {value}"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._fields.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __len__(self) -> int:
        return len(self._fields) + self.repeats

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields.items())

    def fresh(self) -> Headers:
        """Empty headers of the same kind: for the next response of the same head."""
        return type(self)()

    def check(self, max_bytes: int) -> None:
        """Fail if there are too many fields, or they weigh more than ``max_bytes``."""
        if len(self) > MAX_HEADER_FIELDS:
            raise HeaderLimit(f"response has more than {MAX_HEADER_FIELDS} header fields")
        if sum(len(k) + len(v) + 4 for k, v in self._fields.items()) > max_bytes:
            raise HeaderLimit(f"response head exceeds the {max_bytes}-byte limit")


class NulChecked(Headers):
    """Headers of a head parsed with lenient values: a NUL byte in one is still refused."""

    __slots__ = ()

    def add(self, name: str, value: str) -> None:
        if "\x00" in value:
            raise InvalidResponse(f"header {name[:40]!r} holds a NUL byte")
        Headers.add(self, name, value)


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


class Deflate:
    """deflate as servers send it: zlib-wrapped (as specified), or raw, as browsers and aiohttp
    also accept; told apart by the first byte (a zlib header's low nibble is 8, the method)."""

    __slots__ = ("_inner",)

    def __init__(self) -> None:
        self._inner: Any = None

    def decompress(self, data: bytes) -> bytes:
        inner = self._inner
        if inner is None:
            if not data:
                return b""
            wrapped = data[0] & 0x0F == 8 or data[0] == 0x1F  # 0x1f: a gzip member, taken too
            inner = self._inner = zlib.decompressobj(wbits=47 if wrapped else -zlib.MAX_WBITS)
        out: bytes = inner.decompress(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._inner.flush() if self._inner is not None else b""
        return out


class Stacked:
    """Several codings, undone last-applied first: each step's output is the next one's input."""

    __slots__ = ("_steps",)

    def __init__(self, steps: list[Any]) -> None:
        self._steps = steps

    def decompress(self, data: bytes) -> bytes:
        for step in self._steps:
            data = step.decompress(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for step in self._steps:
            data = (step.decompress(data) if data else b"") + step.flush()
        return data


class Refused:
    """A coding not offered: its body fails as soon as a byte of it is read (an empty one is fine)."""

    __slots__ = ("coding",)

    def __init__(self, coding: str) -> None:
        self.coding = coding

    def decompress(self, data: bytes) -> bytes:
        if data:
            raise UnknownEncoding(self.coding)
        return b""

    def flush(self) -> bytes:
        return b""


def decoder_for(header: str) -> Any:
    """What undoes a Content-Encoding header (codings in the order applied), or None for identity."""
    if header == "gzip":  # the usual one, without parsing a list
        return zlib.decompressobj(wbits=31)
    codings = [c.strip().lower() for c in header.split(",")]
    steps: list[Any] = []
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            steps.append(zlib.decompressobj(wbits=31))
        elif coding == "deflate":
            steps.append(Deflate())
        elif coding and coding != "identity":
            return Refused(coding)
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else Stacked(steps)
