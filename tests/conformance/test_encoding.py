"""Content-Encoding as servers send it: gzip, deflate zlib-wrapped or raw, stacks of them in any
order, identity; and codings the client never offered, which are named, never handed on."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest

from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.wire.errors import StreamIdle, UnknownEncoding
from mcpgate.protocol.wire.pool import Pool
from tests.conformance.client import post_once
from tests.conformance.rawserver import RawConn, serving

PLAIN = b'{"jsonrpc":"2.0","id":1,"result":{"text":"' + b"hello " * 500 + b'"}}'


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


CODERS = {"gzip": gzip.compress, "x-gzip": gzip.compress, "deflate": zlib.compress, "identity": lambda b: b}


def encoded(codings: str, data: bytes, *, raw: bool = False) -> bytes:
    for coding in (c.strip().lower() for c in codings.split(",")):
        data = raw_deflate(data) if raw and coding == "deflate" else CODERS[coding](data)
    return data


def split(data: bytes, pieces: int) -> list[bytes]:
    step = max(1, len(data) // pieces)
    return [data[i : i + step] for i in range(0, len(data), step)]


def answering(head: bytes, parts: list[bytes], *, chunked: bool = False, hold: float = 0.0):  # type: ignore[no-untyped-def]
    async def case(conn: RawConn) -> None:
        if await conn.request() is None:
            return
        conn.send(head)
        for part in parts:
            conn.send(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await conn.pause(0.01)
        if chunked and not hold:
            conn.send(b"0\r\n\r\n")
        await asyncio.sleep(hold)

    return case


def head(codings: str, body: bytes | None, ctype: str = "application/json") -> bytes:
    framing = b"Transfer-Encoding: chunked" if body is None else b"Content-Length: %d" % len(body)
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Encoding: %s\r\n%s\r\n\r\n" % (
        ctype.encode(),
        codings.encode(),
        framing,
    )


@pytest.mark.parametrize(
    ("codings", "raw"),
    [
        ("gzip", False),
        ("x-gzip", False),
        ("deflate", False),
        ("deflate", True),
        ("gzip, gzip", False),
        ("deflate, gzip", False),
        ("deflate, gzip", True),
        ("gzip, deflate", True),
        ("identity, gzip", False),
        ("GZIP,deflate , Deflate", True),
    ],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
async def test_known_codings_are_undone_in_order(codings: str, raw: bool, chunked: bool) -> None:
    body = encoded(codings, PLAIN, raw=raw)
    with serving(answering(head(codings, None if chunked else body), split(body, 4), chunked=chunked)) as server:
        got = await post_once(server.url())
    assert got.ok, got
    assert got.body == PLAIN


@pytest.mark.parametrize("codings", ["br", "zstd", "compress", "gzip, br", "br, gzip", "x-custom"])
async def test_a_coding_not_offered_is_a_protocol_error_naming_it(codings: str) -> None:
    body = b"\x8b\x05\x80 not a body we can read"
    with serving(answering(head(codings, body), [body])) as server:
        got = await post_once(server.url())
    assert got.kind is Kind.PROTOCOL_ERROR
    name = [c.strip() for c in codings.split(",") if c.strip() != "gzip"][-1]
    assert got.reason == f"response body has Content-Encoding {name!r}, which was not offered (gzip, deflate)"
    assert got.http_status == 200


async def test_a_body_that_is_not_what_its_coding_says_is_a_protocol_error() -> None:
    body = gzip.compress(PLAIN)
    with serving(answering(head("deflate, gzip", body), [body])) as server:
        got = await post_once(server.url())
    assert got.kind is Kind.PROTOCOL_ERROR
    assert got.reason.startswith("invalid compressed body: ")


async def hold(url: str, idle: float) -> tuple[bytes, BaseException | None]:
    """A held stream (Body.hold with an idle watch): its decoded bytes and how it ended."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[BaseException | None] = loop.create_future()
    seen: list[bytes] = []
    async with Pool() as pool:
        resp = await pool.get(url, deadline=loop.time() + 5)

        def end(exc: BaseException | None) -> None:
            if not ended.done():
                ended.set_result(exc)

        resp.hold(seen.append, end, idle=idle)
        error = await asyncio.wait_for(ended, 5)
        resp.close()
    return b"".join(seen), error


@pytest.mark.parametrize("codings", ["gzip, gzip", "deflate, gzip"])
async def test_a_held_stream_decodes_a_stack_and_its_idle_watch_still_fires(codings: str) -> None:
    # A stream of SSE events, compressed as one stack and flushed piece by piece, then silence.
    steps = [zlib.compressobj(wbits=31) if c.strip() == "gzip" else zlib.compressobj() for c in codings.split(",")]
    events = [b'data: {"n":%d}\n\n' % i for i in range(5)]
    parts = []
    for event in events:
        piece = event
        for step in steps:
            piece = step.compress(piece) + step.flush(zlib.Z_SYNC_FLUSH)
        parts.append(piece)
    case = answering(head(codings, None, "text/event-stream"), parts, chunked=True, hold=3.0)
    with serving(case) as server:
        data, error = await hold(server.url(), idle=0.3)
    assert data == b"".join(events)
    assert isinstance(error, StreamIdle)


async def test_a_held_stream_in_a_coding_not_offered_ends_with_the_error() -> None:
    with serving(answering(head("br", None, "text/event-stream"), [b"\x1b\x03\x00"], chunked=True, hold=3.0)) as s:
        data, error = await hold(s.url(), idle=2.0)
    assert data == b""
    assert isinstance(error, UnknownEncoding)
    assert error.coding == "br"
