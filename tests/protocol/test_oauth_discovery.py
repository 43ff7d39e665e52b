"""Token endpoint discovery on a server of the test's own: the paths a client tries, in the spec's order.

oauth2-mock-server (tests/parts/oauth.py) serves only OpenID discovery at the root; this one serves
RFC 8414 metadata for an issuer with a path, and a 401 that names no resource metadata.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from mcpgate.protocol.auth import AuthSource, AuthSpec, Credentials
from mcpgate.protocol.outcome import Failure, Kind
from mcpgate.support.redact import Redactor
from tests.servers import free_port


@dataclass
class Site:
    base: str
    hits: list[str] = field(default_factory=list)
    tokens: int = 0


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    port = free_port()
    found = Site(f"http://127.0.0.1:{port}")
    issuer = f"{found.base}/tenant1"

    async def handle(request: web.Request) -> web.StreamResponse:
        found.hits.append(f"{request.method} {request.path}")
        if request.path == "/mcp":
            return web.json_response({"error": "invalid_token"}, status=401, headers={"WWW-Authenticate": "Bearer"})
        if request.path == "/.well-known/oauth-protected-resource/mcp":
            return web.json_response({"resource": f"{found.base}/mcp", "authorization_servers": [issuer]})
        if request.path == "/.well-known/oauth-authorization-server/tenant1":
            return web.json_response({"issuer": issuer, "token_endpoint": f"{issuer}/token"})
        if request.path == "/tenant1/token":
            form = await request.post()
            found.tokens += 1
            if form.get("client_secret") != "right-secret":
                return web.json_response({"error": "invalid_client"}, status=401)
            return web.json_response({"access_token": f"at-{found.tokens}-xyz", "token_type": "bearer"})
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield found
    finally:
        await runner.cleanup()


def source(site: Site, secret: str = "right-secret", token_url: str | None = None) -> AuthSource:
    spec = AuthSpec(
        "client_credentials",
        f"{site.base}/mcp",
        Credentials("c1", secret),
        client_auth="client_secret_post",
        token_url=token_url,
        timeout=5.0,
    )
    return AuthSource(spec, Redactor())


async def test_rfc8414_metadata_of_an_issuer_with_a_path(site: Site) -> None:
    auth = source(site)
    assert await auth.provider().token() == "at-1-xyz"
    assert site.hits == [
        "POST /mcp",  # its 401 names no resource_metadata: the well-known paths are tried
        "GET /.well-known/oauth-protected-resource/mcp",
        "GET /.well-known/oauth-authorization-server/tenant1",
        "POST /tenant1/token",
    ]
    assert "at-1-xyz" in auth.redact.secrets
    # Cached: no lifetime was given, so it is replaced only when the MCP server refuses it.
    assert await auth.provider().token() == "at-1-xyz"
    assert await auth.provider().token(refused="at-1-xyz") == "at-2-xyz"
    assert site.tokens == 2


async def test_a_given_token_url_needs_no_discovery(site: Site) -> None:
    auth = source(site, token_url=f"{site.base}/tenant1/token")
    assert await auth.provider().token() == "at-1-xyz"
    assert site.hits == ["POST /tenant1/token"]


async def test_a_refused_client_is_an_auth_error_held_for_a_moment(site: Site) -> None:
    provider = source(site, secret="wrong").provider()
    for _ in range(3):
        with pytest.raises(Failure) as caught:
            await provider.token()
        assert caught.value.outcome.kind is Kind.AUTH_ERROR
        assert caught.value.outcome.reason.endswith("/tenant1/token answered 401: invalid_client")
    assert site.tokens == 1  # the failure answered for itself: the server was not asked three times


async def test_no_metadata_anywhere_says_where_it_looked(site: Site) -> None:
    spec = AuthSpec("client_credentials", f"{site.base}/elsewhere/mcp", Credentials("c1", "s"), timeout=5.0)
    with pytest.raises(Failure) as caught:
        await AuthSource(spec, Redactor()).provider().token()
    reason = caught.value.outcome.reason
    assert reason.startswith("OAuth discovery failed: no protected resource metadata")
    assert "/.well-known/oauth-protected-resource/elsewhere/mcp" in reason


async def test_many_users_needing_a_token_at_once_make_one_request(site: Site) -> None:
    provider = source(site, token_url=f"{site.base}/tenant1/token").provider()
    first = await asyncio.gather(*(provider.token() for _ in range(50)))
    assert set(first) == {"at-1-xyz"}
    again = await asyncio.gather(*(provider.token(refused="at-1-xyz") for _ in range(50)))  # fifty 401s at once
    assert set(again) == {"at-2-xyz"}
    assert site.tokens == 2


async def test_a_token_refused_again_at_once_is_not_replaced_again(site: Site) -> None:
    provider = source(site, token_url=f"{site.base}/tenant1/token").provider()
    first = await provider.token()
    second = await provider.token(refused=first)
    assert second != first
    assert await provider.token(refused=second) == second  # within a second: the server's 401 stands
    assert site.tokens == 2


def test_a_process_loads_the_oauth_network_code_only_when_it_asks_for_a_token() -> None:
    # aiohttp and the JWT signer cost a third of a second per process: every worker is a new interpreter.
    probe = "import sys, mcpgate.doors.cli, mcpgate.engine.worker; print(sorted({'aiohttp', 'jwt'} & set(sys.modules)))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert found.stdout.strip() == "[]"
