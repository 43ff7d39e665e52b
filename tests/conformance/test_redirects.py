"""Redirects: a 307 or 308 to the same origin is followed as the official SDK does; nothing else is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.records import Step
from mcpgate.protocol.session_http import MAX_REDIRECTS
from mcpgate.protocol.wire.pool import Pool
from mcpgate.support import exitcodes
from tests.conformance import mcpraw
from tests.conformance.mcpraw import answer, method_of, rpc, serve_all, session
from tests.conformance.rawserver import RawRequest, response, serving
from tests.run.helpers import count, plan_from, run, target
from tests.test_cli_probe import mcpgate


@pytest.fixture
async def http() -> AsyncIterator[Pool]:
    async for pool in mcpraw.pool():
        yield pool


def moved(status: int, location: str, *headers: str) -> bytes:
    return response(status, b"moved", f"Location: {location}", "Content-Type: text/plain", *headers, reason="Moved")


def redirecting(status: int, when: str) -> mcpraw.Answer:
    """POSTs of ``when`` to /mcp go to /v2/mcp; everything is answered there."""

    def reply(req: RawRequest) -> bytes:
        if req.target == "/mcp" and rpc(req).get("method") == when:
            return moved(status, "/v2/mcp")
        return answer(req)

    return reply


@pytest.mark.parametrize("status", [307, 308])
async def test_a_same_origin_307_or_308_is_followed_with_its_method_body_and_headers(http: Pool, status: int) -> None:
    steps: list[Step] = []
    with serving(serve_all(redirecting(status, "tools/call"))) as server:
        mcp = session(http, server.url(), steps)
        assert (await mcp.open()).ok, steps
        outcome = (await mcp.call_tool("echo", {"x": 1})).outcome
        mcp.abandon()
    assert outcome.ok, steps
    first, second = server.requests[-2:]
    assert (first.line, second.line) == ("POST /mcp HTTP/1.1", "POST /v2/mcp HTTP/1.1")
    assert second.body == first.body
    for name in ("Mcp-Session-Id", "MCP-Protocol-Version", "Content-Type", "Accept"):
        assert second.header(name) == first.header(name) is not None
    assert mcp.redirects == 1
    call = next(s for s in steps if s.method == "tools/call")
    assert call.http_status == 200


async def test_a_cookie_set_by_the_redirect_goes_with_the_next_hop(http: Pool) -> None:
    def reply(req: RawRequest) -> bytes:
        if req.target == "/mcp" and rpc(req).get("method") == "initialize":
            return moved(307, "/v2/mcp", "Set-Cookie: SRV=s2")
        return answer(req)

    steps: list[Step] = []
    with serving(serve_all(reply)) as server:
        mcp = session(http, server.url(), steps)
        assert (await mcp.open()).ok, steps
        mcp.abandon()
    assert [(r.target, r.header("cookie")) for r in server.requests[:2]] == [("/mcp", None), ("/v2/mcp", "SRV=s2")]


async def test_a_redirect_to_another_origin_is_reported_not_followed(http: Pool) -> None:
    with serving(serve_all(answer)) as elsewhere:
        far = elsewhere.url("/mcp").replace("127.0.0.1", "localhost")  # same port, another host: another origin
        with serving(serve_all(lambda req: moved(307, far))) as server:
            steps: list[Step] = []
            mcp = session(http, server.url(), steps)
            outcome = await mcp.open()
            mcp.abandon()
    assert (outcome.kind, outcome.http_status) == (Kind.HTTP_ERROR, 307)
    assert f"redirect to {far!r}" in outcome.reason
    assert "another origin" in outcome.reason
    assert elsewhere.requests == []
    assert mcp.redirects == 0


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_301_302_and_303_are_still_reported(http: Pool, status: int) -> None:
    with serving(serve_all(redirecting(status, "initialize"))) as server:
        steps: list[Step] = []
        mcp = session(http, server.url(), steps)
        outcome = await mcp.open()
        mcp.abandon()
    assert (outcome.kind, outcome.http_status) == (Kind.HTTP_ERROR, status)
    assert "redirect to '/v2/mcp'" in outcome.reason
    assert [r.target for r in server.requests] == ["/mcp"]


async def test_the_hops_are_bounded(http: Pool) -> None:
    def reply(req: RawRequest) -> bytes:
        hop = int(req.target.rsplit("/", 1)[1] or 0) if req.target != "/mcp" else 0
        return moved(308, f"/loop/{hop + 1}")

    with serving(serve_all(reply)) as server:
        steps: list[Step] = []
        mcp = session(http, server.url(), steps)
        outcome = await mcp.open()
        mcp.abandon()
    assert (outcome.kind, outcome.http_status) == (Kind.HTTP_ERROR, 308)
    assert outcome.reason == f"too many redirects: {MAX_REDIRECTS} followed, the next to '{server.url('/loop/6')}'"
    assert len(server.requests) == MAX_REDIRECTS + 1
    assert {method_of(r) for r in server.requests} == {"initialize"}
    assert server.connections == 1  # each redirect's body was read, and its connection reused


async def test_a_run_counts_the_redirects_it_followed(tmp_path: Path) -> None:
    with serving(serve_all(redirecting(307, "tools/call"))) as server:
        config = {
            "target": target(server.url()),
            "flow": {"think_time": "0.05s", "tools": [{"name": "echo", "arguments": {}}]},
            "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.6s"}},
        }
        results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason
    assert "mcp_redirects" in text
    asked = sum(1 for r in server.requests if method_of(r) == "tools/call" and r.target == "/mcp")
    followed = sum(1 for r in server.requests if method_of(r) == "tools/call" and r.target == "/v2/mcp")
    assert followed >= 3
    assert followed <= count(results, "mcp_redirects") <= asked  # the run may end between the hops
    assert count(results, "mcp_errors_http_error") == 0


async def test_the_probe_follows_and_counts_a_redirect() -> None:
    with serving(serve_all(redirecting(308, "initialize"))) as server:
        args = ("probe", server.url(), "--transport", "streamable-http", "--protocol-version", mcpraw.VERSION)
        code, out, err = await mcpgate(*args, "--json")
        text_code, text, _ = await mcpgate(*args)
    assert (code, text_code) == (exitcodes.OK, exitcodes.OK), err
    report = json.loads(out)
    assert (report["ok"], report["redirects"]) == (True, 1)
    assert "redirects followed (307/308 on the same origin): 1" in text
