"""Through an HTTP proxy, byte for byte: the absolute form, CONNECT, the proxy's refusals, NO_PROXY.

The proxy here is a raw server that checks what the client sent and answers as a proxy
would; for CONNECT it then speaks TLS itself (a trustme certificate for the origin's name),
so the tunnel, the handshake inside it and keep-alive reuse are all real.
"""

from __future__ import annotations

import base64
import ssl

import pytest
import trustme

from mcpgate.protocol.http import HttpSettings, classify_exception
from mcpgate.protocol.wire.errors import ProxyError, TlsError
from mcpgate.protocol.wire.pool import Pool
from mcpgate.protocol.wire.proxy import Proxy, ProxyRules, no_proxy_entries, parse_proxy
from mcpgate.support.tls import TlsSettings
from tests.conformance.rawserver import Case, RawConn, response, serving
from tests.servers import free_port

ORIGIN = "mcp.staging.test"  # a name no resolver here knows: only the proxy may reach it
BODY = b'{"jsonrpc":"2.0","id":1,"result":{}}'
AUTH = "Basic " + base64.b64encode(b"gate:pr0xy-pa55").decode()


async def _forwarding(conn: RawConn) -> None:
    """An HTTP proxy that answers every forwarded request itself."""
    while await conn.request() is not None:
        conn.send(response(200, BODY, "Content-Type: application/json"))


async def test_an_http_origin_gets_the_absolute_form_with_proxy_authorization_on_one_pooled_connection() -> None:
    with serving(_forwarding) as proxy:
        rules = ProxyRules(http=parse_proxy(f"http://gate:pr0xy-pa55@127.0.0.1:{proxy.port}"))
        async with Pool(proxies=rules) as pool:
            for headers in (b"Accept: application/json\r\n", {"Accept": "application/json"}):
                async with pool.post(f"http://{ORIGIN}:8080/mcp?x=1", data=b"{}", headers=headers) as resp:
                    assert resp.status == 200
                    assert await resp.read() == BODY
    assert proxy.connections == 1  # kept alive: pooled per proxy and origin
    for req in proxy.requests:
        assert req.line == f"POST http://{ORIGIN}:8080/mcp?x=1 HTTP/1.1"
        assert req.header("host") == f"{ORIGIN}:8080"
        assert req.header("proxy-authorization") == AUTH
        assert req.body == b"{}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _tunnelling(
    ca: trustme.CA, seen: list[bytes], answer: bytes = b"HTTP/1.1 200 Connection established\r\n\r\n"
) -> Case:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(ORIGIN).configure_cert(context)

    async def case(conn: RawConn) -> None:
        head = await conn.reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        conn.send(answer)
        if not answer.startswith(b"HTTP/1.1 200"):
            return
        await conn.writer.drain()
        await conn.writer.start_tls(context)
        await _forwarding(conn)

    return case


async def test_an_https_origin_is_a_connect_tunnel_then_tls_to_the_origin_reused_while_kept_alive(
    ca: trustme.CA, ca_file: str
) -> None:
    seen: list[bytes] = []
    with serving(_tunnelling(ca, seen)) as proxy:
        rules = ProxyRules(https=Proxy("127.0.0.1", proxy.port, AUTH))
        async with Pool(proxies=rules, tls=TlsSettings(ca_file=ca_file)) as pool:
            for _ in range(3):
                async with pool.post(f"https://{ORIGIN}/mcp", data=b"{}", headers=b"") as resp:
                    assert (resp.status, await resp.read()) == (200, BODY)
    assert proxy.connections == 1
    assert seen == [
        f"CONNECT {ORIGIN}:443 HTTP/1.1\r\nHost: {ORIGIN}:443\r\nProxy-Authorization: {AUTH}\r\n\r\n".encode()
    ]
    assert [r.line for r in proxy.requests] == ["POST /mcp HTTP/1.1"] * 3  # origin form inside the tunnel
    assert proxy.requests[0].header("proxy-authorization") is None  # never sent to the origin


async def test_the_origin_certificate_is_checked_inside_the_tunnel(ca: trustme.CA) -> None:
    with serving(_tunnelling(ca, [])) as proxy:
        async with Pool(proxies=ProxyRules(https=Proxy("127.0.0.1", proxy.port))) as pool:
            with pytest.raises(TlsError) as caught:
                await pool.post(f"https://{ORIGIN}/mcp", data=b"{}", headers=b"")
    failure = classify_exception(caught.value, HttpSettings())
    assert failure.outcome.reason.startswith("TLS certificate rejected:")


REFUSALS = [
    (
        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=x\r\n\r\n",
        "407 Proxy Authentication Required (no credentials were given)",
    ),
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", f"403 Forbidden (CONNECT {ORIGIN}:443)"),
    (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", f"502 Bad Gateway (it could not reach {ORIGIN}:443)"),
    (b"", f"closed the connection (CONNECT {ORIGIN}:443)"),
]


@pytest.mark.parametrize(("answer", "said"), REFUSALS, ids=["407", "403", "502", "closed"])
async def test_a_proxy_refusing_connect_is_a_connection_error_that_names_the_proxy(
    ca: trustme.CA, answer: bytes, said: str
) -> None:
    with serving(_tunnelling(ca, [], answer)) as proxy:
        async with Pool(proxies=ProxyRules(https=Proxy("127.0.0.1", proxy.port))) as pool:
            with pytest.raises(ProxyError) as caught:
                await pool.post(f"https://{ORIGIN}/mcp", data=b"{}", headers=b"")
    failure = classify_exception(caught.value, HttpSettings())
    assert failure.outcome.kind.value == "connection_error"
    assert failure.outcome.reason == f"proxy 127.0.0.1:{proxy.port}: {said}"


async def test_407_to_a_forwarded_request_is_the_proxy_refusing_the_credentials() -> None:
    async def refusing(conn: RawConn) -> None:
        await conn.request()
        conn.send(response(407, b"", "Proxy-Authenticate: Basic realm=x", reason="Proxy Authentication Required"))

    with serving(refusing) as proxy:
        rules = ProxyRules(http=Proxy("127.0.0.1", proxy.port, AUTH))
        async with Pool(proxies=rules) as pool:
            with pytest.raises(ProxyError) as caught:
                await pool.post(f"http://{ORIGIN}/mcp", data=b"{}", headers=b"")
    assert str(caught.value) == (
        f"proxy 127.0.0.1:{proxy.port}: 407 Proxy Authentication Required (the proxy refused the credentials)"
    )
    assert "pr0xy" not in str(caught.value)
    assert AUTH not in str(caught.value)


async def test_a_proxy_that_is_down_is_named() -> None:
    port = free_port()
    async with Pool(proxies=ProxyRules(http=Proxy("127.0.0.1", port))) as pool:
        with pytest.raises(ProxyError) as caught:
            await pool.post(f"http://{ORIGIN}/mcp", data=b"{}", headers=b"")
    assert str(caught.value) == f"proxy 127.0.0.1:{port}: cannot connect: connection refused"


@pytest.mark.parametrize("entry", ["127.0.0.1", "*", "127.0.0.0/8", "example.com, 127.0.0.1"])
async def test_no_proxy_sends_a_matching_origin_direct(entry: str) -> None:
    with serving(_forwarding) as origin, serving(_forwarding) as proxy:
        rules = ProxyRules(http=Proxy("127.0.0.1", proxy.port), no_proxy=no_proxy_entries(entry))
        async with Pool(proxies=rules) as pool, pool.post(origin.url(), data=b"{}", headers=b"") as resp:
            assert resp.status == 200
    assert (origin.connections, proxy.connections) == (1, 0)
    assert origin.requests[0].line == "POST /mcp HTTP/1.1"
