"""Every address a name resolves to is tried: a server listening on one of them is reached.

This machine's /etc/hosts names ``localhost`` 127.0.0.1 only; many name it ::1 as well, and
list ::1 first. The resolver here is made to answer so (the test's loop's ``getaddrinfo``);
the servers, the refusals and the silent address are real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mcpgate.protocol.http import HttpSettings, classify_exception
from mcpgate.protocol.wire.errors import TlsError
from mcpgate.protocol.wire.pool import Pool
from tests.conformance.rawserver import RawConn, response, serving

BODY = b'{"jsonrpc":"2.0","id":1,"result":{}}'


async def _closing(conn: RawConn) -> None:
    """One response per connection, so each request dials again."""
    if await conn.request() is not None:
        conn.send(response(200, BODY, "Connection: close"))


def _resolving(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> list[str]:
    """``localhost`` resolves to ``addresses``, in that order; returns the names looked up."""
    loop = asyncio.get_running_loop()
    looked: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        looked.append(host)
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return looked


async def _get_many(url: str, n: int) -> float:
    began = time.monotonic()
    async with Pool(connect_timeout=5) as pool:
        for _ in range(n):
            async with pool.post(url, data=b"{}", headers=b"") as resp:
                assert (resp.status, await resp.read()) == (200, BODY)
    return time.monotonic() - began


async def test_localhost_as_v6_first_reaches_a_server_on_127_0_0_1(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(_closing) as server:
        looked = _resolving(monkeypatch, "::1", "127.0.0.1")
        await _get_many(f"http://localhost:{server.port}/mcp", 5)
    assert server.connections == 5
    assert looked == ["localhost"]  # one lookup: the DNS cache is kept


async def test_a_server_on_v6_only_is_reached_after_the_v4_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(_closing, host="::1") as server:
        _resolving(monkeypatch, "127.0.0.1", "::1")
        await _get_many(f"http://localhost:{server.port}/mcp", 2)
    assert server.connections == 2


@contextlib.contextmanager
def _silent(port: int) -> Iterator[None]:
    """::1 on ``port`` drops every SYN: its accept queue (listen(0)) holds one connection, never accepted."""
    with socket.socket(socket.AF_INET6) as listener, socket.socket(socket.AF_INET6) as filler:
        listener.bind(("::1", port))
        listener.listen(0)
        filler.connect(("::1", port))
        yield


async def test_an_address_that_never_answers_costs_the_stagger_once_not_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serving(_closing) as server, _silent(server.port):
        _resolving(monkeypatch, "::1", "127.0.0.1")
        took = await _get_many(f"http://localhost:{server.port}/mcp", 4)
    assert server.connections == 4
    # 0.25 s for the first connection; then 127.0.0.1 is tried first. Waiting for ::1 would be 5 s each.
    assert took < 1.5


async def test_every_address_refusing_is_one_named_connect_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(_closing) as server:
        port = server.port
    _resolving(monkeypatch, "::1", "127.0.0.1")
    async with Pool(connect_timeout=2) as pool:
        with pytest.raises(Exception, match=f"^cannot connect to localhost:{port}: connection refused$"):
            await pool.post(f"http://localhost:{port}/mcp", data=b"{}", headers=b"")


async def _hang_up(conn: RawConn) -> None:
    """Not TLS: the connection ends at the client's hello."""


async def test_when_one_address_connects_and_its_tls_fails_the_tls_failure_is_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serving(_hang_up) as server:
        _resolving(monkeypatch, "::1", "127.0.0.1")
        async with Pool(connect_timeout=2) as pool:
            with pytest.raises(TlsError) as caught:
                await pool.post(f"https://localhost:{server.port}/mcp", data=b"{}", headers=b"")
    failure = classify_exception(caught.value, HttpSettings())
    assert failure.outcome.reason.startswith("TLS handshake failed: "), failure.outcome.reason
