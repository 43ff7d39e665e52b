"""How the wire client reads a response head: interim responses, the leniencies it shares with
aiohttp (and the ones it does not), and statuses no MCP server should send.

Every case answers with exactly its bytes; where the segmenting matters, the case pauses
between segments so each arrives on its own.
"""

from __future__ import annotations

import asyncio

import pytest

from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.wire.pool import Pool
from tests.conformance.client import post, post_once
from tests.conformance.rawserver import RawConn, response, serving

FINAL = response(200, b'{"ok":true}', "Content-Type: application/json")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-Hint: early\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"


def segmented(*parts: bytes, requests: int = 1):  # type: ignore[no-untyped-def]
    """A case that answers each request with ``parts``, each in its own segment."""

    async def case(conn: RawConn) -> None:
        for _ in range(requests):
            if await conn.request() is None:
                return
            for part in parts:
                conn.send(part)
                await conn.pause(0.03)

    return case


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param((CONTINUE, FINAL), id="100-own-segment"),
        pytest.param((HINTS, FINAL), id="103-own-segment"),
        pytest.param((CONTINUE + HINTS + FINAL,), id="100-103-final-one-segment"),
        pytest.param((CONTINUE, PROCESSING, HINTS, FINAL), id="100-102-103-each-own-segment"),
        pytest.param((b"HTTP/1.1 150 Unknown Interim\r\nX-Hint: early\r\n\r\n", FINAL), id="unknown-1xx"),
        pytest.param((HINTS[:20], HINTS[20:], FINAL[:10], FINAL[10:]), id="split-mid-line"),
    ],
)
async def test_interim_responses_are_skipped_and_their_headers_dropped(parts: tuple[bytes, ...]) -> None:
    with serving(segmented(*parts)) as server:
        got = await post_once(server.url())
    assert got.ok, got
    assert (got.status, got.body) == (200, b'{"ok":true}')
    assert got.headers is not None
    assert "link" not in got.headers
    assert "x-hint" not in got.headers
    assert got.headers["content-type"] == "application/json"


async def test_a_connection_with_interim_responses_is_reused_for_the_next_request() -> None:
    with serving(segmented(HINTS, FINAL, requests=2)) as server:
        async with Pool() as pool:
            first = await post(pool, server.url())
            second = await post(pool, server.url())
    assert (first.status, second.status) == (200, 200)
    assert second.headers is not None
    assert "link" not in second.headers
    assert server.connections == 1


async def test_an_interim_response_that_declares_a_body_is_a_protocol_error() -> None:
    with serving(segmented(b"HTTP/1.1 103 Early Hints\r\nContent-Length: 4\r\n\r\nHTTP", FINAL)) as server:
        got = await post_once(server.url())
    assert got.kind is Kind.PROTOCOL_ERROR
    assert "interim response 103 declares a body" in got.reason


@pytest.mark.parametrize("upgrade", [b"Upgrade: websocket\r\nConnection: upgrade\r\n", b""])
async def test_101_switching_protocols_is_a_protocol_error(upgrade: bytes) -> None:
    with serving(segmented(b"HTTP/1.1 101 Switching Protocols\r\n" + upgrade + b"\r\n", FINAL)) as server:
        got = await post_once(server.url())
    assert got.kind is Kind.PROTOCOL_ERROR
    assert got.reason == "101 Switching Protocols, though no request asks to switch"


@pytest.mark.parametrize(
    ("raw", "header", "value"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\n\tthree\r\nContent-Length: 2\r\n\r\nhi",
            "x-folded",
            "one two\tthree",
            id="obs-fold",
        ),
        pytest.param(b"HTTP/1.1 200 OK\nX-Plain: lf\nContent-Length: 2\n\nhi", "x-plain", "lf", id="lf-only"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nX-Mixed: yes\nContent-Length: 2\r\n\nhi", "x-mixed", "yes", id="lf-and-crlf-mixed"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nhi\r\n0\r\n\r\n",
            "transfer-encoding",
            "chunked",
            id="space-after-chunk-size",
        ),
    ],
)
async def test_what_aiohttp_accepts_is_accepted(raw: bytes, header: str, value: str) -> None:
    with serving(segmented(raw[:25], raw[25:])) as server:
        got = await post_once(server.url())
    assert got.ok, got
    assert got.body == b"hi"
    assert got.headers is not None
    assert got.headers[header] == value


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"HTTP/1.1 200 OK\rContent-Length: 2\r\r\rhi", id="cr-only"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            id="length-and-chunked",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!", id="two-lengths"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX0\r\n\r\n", id="chunk-without-crlf"
        ),
        pytest.param(b"HTTP/1.1 99 Odd\r\nContent-Length: 2\r\n\r\nhi", id="two-digit-status"),
    ],
)
async def test_what_aiohttp_rejects_is_a_protocol_error(raw: bytes) -> None:
    with serving(segmented(raw)) as server:
        got = await post_once(server.url())
    assert got.kind is Kind.PROTOCOL_ERROR, got
    assert got.reason.startswith("invalid HTTP response: ")


NUL_HEAD = b"HTTP/1.1 200 OK\r\nX-Good: fine\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nhi"


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param((NUL_HEAD,), id="one-segment"),
        pytest.param((NUL_HEAD[:39], NUL_HEAD[39:]), id="nul-starts-the-second-segment"),
        pytest.param((NUL_HEAD[:40], NUL_HEAD[40:]), id="nul-ends-the-first-segment"),
        pytest.param((NUL_HEAD[:20], NUL_HEAD[20:]), id="split-before-the-field"),
        pytest.param((HINTS + NUL_HEAD,), id="after-an-interim-response"),
        pytest.param((NUL_HEAD.replace(b"\r\n", b"\n"),), id="lf-only-head"),
        pytest.param((NUL_HEAD.replace(b"Length: 2", b"Length: 3") + b"\x00",), id="nul-in-the-body-too"),
    ],
)
async def test_a_nul_byte_in_a_header_value_is_a_protocol_error(parts: tuple[bytes, ...]) -> None:
    with serving(segmented(*parts)) as server:
        got = await post_once(server.url())
    assert (got.kind, got.reason) == (Kind.PROTOCOL_ERROR, "header 'X-Bad' holds a NUL byte")


async def test_a_connection_parses_each_response_on_its_own_merits() -> None:
    # A folded head, then an ordinary one, then a folded one with a NUL, then an ordinary one.
    folded = b"HTTP/1.1 200 OK\r\nX-F: a\r\n b\r\nContent-Length: 2\r\n\r\nhi"
    bad = b"HTTP/1.1 200 OK\r\nX-F: a\r\n b\r\nX-Bad: \x00\r\nContent-Length: 2\r\n\r\nhi"
    answers = [folded[:30], folded[30:]], [response(200, b"ok")], [bad]

    async def case(conn: RawConn) -> None:
        for parts in answers:
            if await conn.request() is None:
                return
            for part in parts:
                conn.send(part)
                await conn.pause(0.02)

    with serving(case) as server:
        async with Pool() as pool:
            got = [await post(pool, server.url()) for _ in answers]
    assert got[0].headers is not None
    assert (got[0].body, got[0].headers["x-f"]) == (b"hi", "a b")
    assert got[1].body == b"ok"
    assert (got[2].kind, got[2].reason) == (Kind.PROTOCOL_ERROR, "header 'X-Bad' holds a NUL byte")
    assert server.connections == 1


async def test_nul_bytes_in_the_body_after_the_head_are_only_body() -> None:
    body = b"\x00\x01\x00"
    with serving(segmented(response(200, body, "X-A: 1"), requests=1)) as server:
        got = await post_once(server.url())
    assert (got.status, got.body) == (200, body)


async def test_control_bytes_other_than_nul_are_taken_as_aiohttp_takes_them() -> None:
    with serving(segmented(b"HTTP/1.1 200 OK\r\nX-Odd: a\x01b\x7fc\r\nContent-Length: 2\r\n\r\nhi")) as server:
        got = await post_once(server.url())
    assert got.headers is not None
    assert got.headers["x-odd"] == "a\x01b\x7fc"


async def test_a_reason_phrase_split_across_segments_is_whole() -> None:
    raw = response(503, b"busy", reason="Service Temporarily Unavailable")
    async with Pool() as pool, asyncio.timeout(5):
        with serving(segmented(raw[:20], raw[20:])) as server:
            async with pool.post(server.url(), data=b"{}") as resp:
                assert (resp.status, resp.reason) == (503, "Service Temporarily Unavailable")
                assert await resp.read() == b"busy"


async def test_a_body_until_close_after_an_interim_response() -> None:
    final = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"ok":'

    async def case(conn: RawConn) -> None:
        await conn.request()
        for part in (CONTINUE, final, b"true}"):
            conn.send(part)
            await conn.pause(0.03)
        conn.close()

    with serving(case) as server:
        got = await post_once(server.url())
    assert (got.status, got.body) == (200, b'{"ok":true}')


@pytest.mark.parametrize("status", [204, 304])
async def test_statuses_without_a_body_end_at_the_head(status: int) -> None:
    with serving(segmented(f"HTTP/1.1 {status} Nothing\r\nX-A: 1\r\n\r\n".encode(), requests=2)) as server:
        async with Pool() as pool:
            got = [await post(pool, server.url(), within=2.0) for _ in range(2)]
    assert [(g.status, g.body) for g in got] == [(status, b"")] * 2
    assert server.connections == 1


async def test_an_unknown_final_status_is_returned_as_it_is() -> None:
    with serving(segmented(response(599, b"odd", reason="Odd"))) as server:
        got = await post_once(server.url())
    assert (got.status, got.body) == (599, b"odd")
