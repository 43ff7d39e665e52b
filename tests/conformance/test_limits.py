"""The response head is capped: in bytes (status lines and fields together) and in fields.

A server that sends megabytes of header, or thousands of fields, fails its request at once,
as a protocol error that names the cap, before it can hold a virtual user's memory.
"""

from __future__ import annotations

import asyncio

import pytest

from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.wire.body import MAX_HEADER_FIELDS
from mcpgate.protocol.wire.connection import MAX_HEAD_BYTES
from tests.conformance.client import post_once
from tests.conformance.rawserver import RawConn, response, serving

BYTES_REASON = f"response head exceeds the {MAX_HEAD_BYTES}-byte limit"
FIELDS_REASON = f"response has more than {MAX_HEADER_FIELDS} header fields"


def answering(*parts: bytes, hold: float = 0.0):  # type: ignore[no-untyped-def]
    async def case(conn: RawConn) -> None:
        if await conn.request() is None:
            return
        for part in parts:
            conn.send(part)
            await conn.pause(0.02)
        await asyncio.sleep(hold)

    return case


def fields(count: int, name: str = "X-F{i}") -> list[str]:
    return [f"{name.format(i=i)}: v" for i in range(count)]


async def test_a_20_mb_header_fails_fast_naming_the_cap() -> None:
    piece = b"a" * (1024 * 1024)
    head = b"HTTP/1.1 200 OK\r\nX-Huge: "
    # Twenty 1 MB segments and then a stall: the cap is met long before the end or the deadline.
    with serving(answering(head, *([piece] * 20), hold=3.0)) as server:
        t0 = asyncio.get_running_loop().time()
        got = await post_once(server.url(), within=5.0)
        took = asyncio.get_running_loop().time() - t0
    assert (got.kind, got.reason) == (Kind.PROTOCOL_ERROR, BYTES_REASON)
    assert took < 2.0


async def test_a_head_over_the_cap_in_one_segment_with_its_body() -> None:
    big = "X-Big: " + "b" * (MAX_HEAD_BYTES + 100)
    with serving(answering(response(200, b"hi", big))) as server:
        got = await post_once(server.url())
    assert (got.kind, got.reason) == (Kind.PROTOCOL_ERROR, BYTES_REASON)


async def test_many_interim_responses_count_toward_the_cap() -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </" + b"s" * 1000 + b">; rel=preload\r\n\r\n"
    with serving(answering(*([hints * 30] * 10), hold=3.0)) as server:
        got = await post_once(server.url())
    assert (got.kind, got.reason) == (Kind.PROTOCOL_ERROR, BYTES_REASON)


async def test_a_large_head_under_the_cap_is_read() -> None:
    cookie = "Set-Cookie: c=" + "c" * 8000
    head = [cookie] * 10 + ["X-Big: " + "b" * (MAX_HEAD_BYTES // 2)]
    raw = response(200, b"hi", *head)
    with serving(answering(raw[:1000], raw[1000:70000], raw[70000:])) as server:
        got = await post_once(server.url())
    assert got.ok, got
    assert got.body == b"hi"
    assert got.headers is not None
    assert got.headers["set-cookie"].count("c=") == 10


@pytest.mark.parametrize("name", ["X-F{i}", "X-Same"], ids=["distinct-names", "one-name-repeated"])
async def test_fields_beyond_the_count_cap_fail(name: str) -> None:
    # response() adds Content-Length: one field more than the cap in all.
    with serving(answering(response(200, b"hi", *fields(MAX_HEADER_FIELDS, name)))) as server:
        got = await post_once(server.url())
    assert (got.kind, got.reason) == (Kind.PROTOCOL_ERROR, FIELDS_REASON)


@pytest.mark.parametrize("name", ["X-F{i}", "X-Same"], ids=["distinct-names", "one-name-repeated"])
async def test_fields_up_to_the_count_cap_are_read(name: str) -> None:
    with serving(answering(response(200, b"hi", *fields(MAX_HEADER_FIELDS - 1, name)))) as server:
        got = await post_once(server.url())
    assert got.ok, got
    assert got.body == b"hi"


async def test_a_flood_of_repeated_fields_fails_at_the_cap_without_joining_them_all() -> None:
    flood = b"X-Same: v\r\n" * 20000
    with serving(answering(b"HTTP/1.1 200 OK\r\n" + flood + b"Content-Length: 2\r\n\r\nhi")) as server:
        got = await post_once(server.url())
    assert (got.kind, got.reason) == (Kind.PROTOCOL_ERROR, FIELDS_REASON)


async def test_interim_fields_do_not_count_toward_the_final_responses_fields() -> None:
    hints = "\r\n".join(["HTTP/1.1 103 Early Hints", *fields(100, "Link-{i}"), "", ""]).encode()
    with serving(answering(hints, response(200, b"hi", *fields(100)))) as server:
        got = await post_once(server.url())
    assert got.ok, got
