"""Each MCP session keeps the cookies its server sets and sends them back, as a sticky load balancer needs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.records import Step
from mcpgate.protocol.wire.pool import Pool
from mcpgate.support import exitcodes
from tests.conformance import mcpraw
from tests.conformance.mcpraw import answer, method_of, rpc, serve_all, session
from tests.conformance.rawserver import RawConn, RawRequest, response, serving
from tests.test_cli_probe import mcpgate


@pytest.fixture
async def http() -> AsyncIterator[Pool]:
    async for pool in mcpraw.pool():
        yield pool


def on_initialize(*headers: str) -> mcpraw.Answer:
    """A server that sets ``headers`` (Set-Cookie lines) on its answer to initialize only."""

    def reply(req: RawRequest) -> bytes:
        return answer(req, *headers) if rpc(req).get("method") == "initialize" else answer(req)

    return reply


async def one_session(http: Pool, url: str, *, settings: HttpSettings = mcpraw.SETTINGS) -> list[Step]:
    steps: list[Step] = []
    mcp = session(http, url, steps, settings=settings)
    assert (await mcp.open()).ok, steps
    assert (await mcp.list_tools()).ok, steps
    assert (await mcp.call_tool("echo", {})).outcome.ok, steps
    assert (await mcp.close()).ok, steps
    mcp.abandon()
    return steps


def cookies_sent(requests: list[RawRequest]) -> list[tuple[str, str | None]]:
    return [(method_of(r), r.header("cookie")) for r in requests]


async def test_a_cookie_set_on_initialize_comes_back_on_every_later_request(http: Pool) -> None:
    with serving(serve_all(on_initialize("Set-Cookie: SRV=s1; path=/"))) as server:
        await one_session(http, server.url())
    assert cookies_sent(server.requests) == [
        ("initialize", None),
        ("notifications/initialized", "SRV=s1"),
        ("tools/list", "SRV=s1"),
        ("tools/call", "SRV=s1"),
        ("DELETE", "SRV=s1"),
    ]
    assert sum(1 for r in server.requests for k, _ in r.headers if k.lower() == "cookie") == 4  # one line each


async def test_several_cookies_with_expires_dates_are_all_kept(http: Pool) -> None:
    # An Expires date holds a comma: each Set-Cookie field must be read on its own.
    far = "Wed, 01 Jan 2200 00:00:00 GMT"
    reply = on_initialize(f"Set-Cookie: AWSALB=ab+c/d==; Expires={far}; Path=/", f"Set-Cookie: b=2; Expires={far}")
    with serving(serve_all(reply)) as server:
        await one_session(http, server.url())
    assert server.requests[2].header("cookie") == "AWSALB=ab+c/d==; b=2"


async def test_path_decides_which_requests_carry_a_cookie(http: Pool) -> None:
    reply = on_initialize(
        "Set-Cookie: here=1; Path=/api",  # /api/mcp is under it
        "Set-Cookie: there=1; Path=/other",
        "Set-Cookie: near=1; Path=/ap",  # a prefix, but not a path segment of /api/mcp
        "Set-Cookie: default=1",  # no Path: the request's directory, /api
    )
    with serving(serve_all(reply)) as server:
        await one_session(http, server.url("/api/mcp"))
    assert server.requests[2].header("cookie") == "here=1; default=1"


async def test_max_age_zero_and_a_past_expires_delete_a_cookie(http: Pool) -> None:
    def reply(req: RawRequest) -> bytes:
        method = rpc(req).get("method")
        if method == "initialize":
            return answer(req, "Set-Cookie: SRV=s1; Path=/", "Set-Cookie: keep=1; Path=/", "Set-Cookie: old=1")
        if method == "tools/list":
            return answer(
                req, "Set-Cookie: SRV=; Path=/; Max-Age=0", "Set-Cookie: old=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
            )
        return answer(req)

    with serving(serve_all(reply)) as server:
        await one_session(http, server.url())
    assert cookies_sent(server.requests)[2:] == [
        ("tools/list", "SRV=s1; keep=1; old=1"),
        ("tools/call", "keep=1"),
        ("DELETE", "keep=1"),
    ]


async def test_a_cookie_that_expires_is_no_longer_sent(http: Pool) -> None:
    with serving(serve_all(on_initialize("Set-Cookie: brief=1; Max-Age=1"))) as server:
        steps: list[Step] = []
        mcp = session(http, server.url(), steps)
        assert (await mcp.open()).ok
        assert (await mcp.list_tools()).ok
        await asyncio.sleep(1.1)
        assert (await mcp.call_tool("echo", {})).outcome.ok
        mcp.abandon()
    assert cookies_sent(server.requests)[2:] == [("tools/list", "brief=1"), ("tools/call", None)]


async def test_secure_cookies_stay_off_plain_http_and_other_sites_cookies_are_refused(http: Pool) -> None:
    reply = on_initialize(
        "Set-Cookie: tls=1; Secure",
        "Set-Cookie: other=1; Domain=example.com",
        "Set-Cookie: mine=1; Domain=127.0.0.1; HttpOnly; SameSite=Strict",
    )
    with serving(serve_all(reply)) as server:
        await one_session(http, server.url())
    assert server.requests[2].header("cookie") == "mine=1"


async def test_a_cookie_set_on_the_get_stream_comes_back_on_the_posts(http: Pool) -> None:
    async def case(conn: RawConn) -> None:
        while (req := await conn.request()) is not None:
            if req.method == "GET":  # the stream's headers set the cookie; the stream then stays open
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nSet-Cookie: g=1\r\n\r\n: hi\n\n")
                await conn.pause(3)
                return
            conn.send(answer(req))

    with serving(case) as server:
        steps: list[Step] = []
        mcp = session(http, server.url(), steps, listen=True)
        assert (await mcp.open()).ok, steps
        assert mcp.holding
        assert (await mcp.list_tools()).ok, steps
        mcp.abandon()
    assert [m for m, _ in cookies_sent(server.requests)] == [
        "initialize",
        "notifications/initialized",
        "GET",
        "tools/list",
    ]
    assert cookies_sent(server.requests)[3] == ("tools/list", "g=1")


async def test_every_session_starts_with_an_empty_jar(http: Pool) -> None:
    with serving(serve_all(on_initialize("Set-Cookie: SRV=s1"))) as server:
        steps: list[Step] = []
        mcp = session(http, server.url(), steps)
        for _ in range(2):
            assert (await mcp.open()).ok
            assert (await mcp.list_tools()).ok
            assert (await mcp.close()).ok
    sent = cookies_sent(server.requests)
    assert [c for m, c in sent if m == "initialize"] == [None, None]
    assert [c for m, c in sent if m == "tools/list"] == ["SRV=s1", "SRV=s1"]


async def test_with_cookies_off_nothing_is_kept(http: Pool) -> None:
    settings = HttpSettings(timeout=5, connect_timeout=2, cookies=False)
    with serving(serve_all(on_initialize("Set-Cookie: SRV=s1"))) as server:
        await one_session(http, server.url(), settings=settings)
    assert {c for _, c in cookies_sent(server.requests)} == {None}


async def test_the_users_own_cookie_header_and_the_jars_go_as_one(http: Pool) -> None:
    settings = HttpSettings(timeout=5, connect_timeout=2, headers={"Cookie": "auth=u"})
    with serving(serve_all(on_initialize("Set-Cookie: SRV=s1"))) as server:
        await one_session(http, server.url(), settings=settings)
    sent = cookies_sent(server.requests)
    assert sent[0] == ("initialize", "auth=u")
    assert sent[2] == ("tools/list", "auth=u; SRV=s1")
    assert all(sum(1 for k, _ in r.headers if k.lower() == "cookie") == 1 for r in server.requests)


async def test_a_bad_set_cookie_is_ignored_and_the_session_goes_on(http: Pool) -> None:
    with serving(serve_all(on_initialize("Set-Cookie: bad value", "Set-Cookie: =x", "Set-Cookie: ok=1"))) as server:
        steps = await one_session(http, server.url())
    assert all(s.outcome.kind is Kind.OK for s in steps)
    assert server.requests[2].header("cookie") == "ok=1"


async def test_cookie_values_never_reach_the_probe_report() -> None:
    secret = "c00k1e-v4lue-9f3a"

    def reply(req: RawRequest) -> bytes:
        if rpc(req).get("method") == "tools/list":  # a failing step, whose reason is reported
            return response(503, b"busy", f"Set-Cookie: SRV={secret}", reason="Service Unavailable")
        return answer(req, f"Set-Cookie: SRV={secret}")

    with serving(serve_all(reply)) as server:
        code, out, err = await mcpgate(
            "probe", server.url(), "--json", "--transport", "streamable-http", "--protocol-version", mcpraw.VERSION
        )
    assert code == exitcodes.CHECK_FAILED, err
    report = json.loads(out)
    assert report["ok"] is False
    assert server.requests[-1].header("cookie") == f"SRV={secret}"  # it was kept and sent back
    assert secret not in out
    assert secret not in err


async def test_a_server_echoing_the_cookie_in_an_error_does_not_reveal_it(http: Pool) -> None:
    secret = "st1cky-9c1e77"

    def reply(req: RawRequest) -> bytes:
        if rpc(req).get("method") == "tools/call":  # a debug page that shows the request's headers
            return response(500, f"<html><title>cookie {req.header('cookie')}</title></html>".encode(), reason="Oops")
        return answer(req, f'Set-Cookie: SRV="{secret}"') if rpc(req).get("method") == "initialize" else answer(req)

    steps: list[Step] = []
    with serving(serve_all(reply)) as server:
        mcp = session(http, server.url(), steps)
        assert (await mcp.open()).ok
        outcome = (await mcp.call_tool("echo", {})).outcome
        mcp.abandon()
    assert server.requests[-1].header("cookie") == f'SRV="{secret}"'
    assert (outcome.kind, outcome.http_status) == (Kind.HTTP_ERROR, 500)
    assert outcome.reason == "HTML page 'cookie SRV=***'"
    assert secret not in repr(steps)
