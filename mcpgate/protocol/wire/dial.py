"""Opening a connection: DNS (cached), TCP to each address in turn, a proxy's tunnel, TLS; each
failure named, all within a timeout."""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from mcpgate.protocol.wire.connection import Connection, Key
from mcpgate.protocol.wire.errors import (
    ConnectError,
    ConnectTimeout,
    DnsError,
    ProxyError,
    RequestTimeout,
    TlsError,
)
from mcpgate.protocol.wire.proxy import (
    ConnectReply,
    ProxiedConnection,
    Proxy,
    ProxyRules,
    check_connect_reply,
    connect_request,
)
from mcpgate.support.tls import TlsSettings, tls_context

DNS_TTL = 300.0
HAPPY_EYEBALLS_DELAY = 0.25  # RFC 8305's wait before the next address is tried alongside
P = TypeVar("P", bound=asyncio.Protocol)


class Dialer:
    """The connect side of a pool: its TLS context, built once, its proxy rules, and its DNS answers."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        tls: TlsSettings | None = None,
        proxies: ProxyRules | None = None,
        stagger: float = HAPPY_EYEBALLS_DELAY,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._tls: ssl.SSLContext | None = None
        self._settings = tls or TlsSettings()
        self.proxies = proxies
        self._stagger = stagger

    async def connect(self, key: Key, deadline: float | None) -> Connection:
        """A new connection to ``key``'s origin, by the connect timeout or ``deadline``, whichever is first."""
        scheme, host, port, proxy = key
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        give_up = loop.time() + self._connect_timeout
        late = deadline is not None and deadline < give_up  # the request's deadline comes first
        try:
            async with asyncio.timeout_at(deadline if late and deadline is not None else give_up):
                if proxy is None:
                    addresses = await self._resolve(host, port)
                    _, conn = await self._tcp(lambda: Connection(key), host, port, addresses, tls)
                    return conn
                if tls is None:
                    return await self._forwarding(key, proxy)
                return await self._tunnel(key, proxy, tls)
        except TimeoutError:
            if late:
                raise RequestTimeout("the deadline passed while connecting") from None
            through = f" through proxy {proxy.where}" if proxy is not None else ""
            raise ConnectTimeout(host, port, f"connect timed out after {self._connect_timeout:g}s{through}") from None
        except ssl.SSLCertVerificationError as exc:
            raise TlsError(host, port, exc.verify_message or str(exc), certificate=True) from None
        except ssl.SSLError as exc:
            raise TlsError(host, port, exc.reason or str(exc), certificate=False) from None
        except ConnectionResetError as exc:
            if tls is not None:  # a plain-HTTP server answers a TLS hello by closing
                raise TlsError(host, port, "connection reset during the TLS handshake", certificate=False) from None
            raise ConnectError(host, port, _os_reason(exc)) from None
        except OSError as exc:
            raise ConnectError(host, port, _os_reason(exc)) from None

    async def _forwarding(self, key: Key, proxy: Proxy) -> Connection:
        """A plain-HTTP origin's connection: to the proxy, which forwards each absolute-form request."""

        def made() -> Connection:
            conn = ProxiedConnection(key)
            conn.proxy = proxy
            return conn

        _, conn = await self._to_proxy(made, proxy)
        return conn

    async def _tunnel(self, key: Key, proxy: Proxy, tls: ssl.SSLContext) -> Connection:
        """An https origin's connection: CONNECT through the proxy, then TLS to the origin inside the tunnel."""
        _, host, port, _ = key
        transport, reply = await self._to_proxy(ConnectReply, proxy)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            transport.write(connect_request(host, port, proxy))
            check_connect_reply(await reply.head, proxy, authority)
        except BaseException:
            transport.close()
            raise
        conn = Connection(key)
        loop = asyncio.get_running_loop()
        wrapped = await loop.start_tls(transport, conn, tls, server_hostname=host)  # closes the tunnel on failure
        if wrapped is None:
            raise ProxyError(proxy.where, "the tunnel closed before TLS began", f"CONNECT {authority}")
        conn.connection_made(wrapped)
        return conn

    async def _to_proxy(self, factory: Callable[[], P], proxy: Proxy) -> tuple[asyncio.Transport, P]:
        try:
            addresses = await self._resolve(proxy.host, proxy.port)
            return await self._tcp(factory, proxy.host, proxy.port, addresses, None)
        except DnsError:
            raise ProxyError(proxy.where, f"DNS lookup failed for {proxy.host}") from None
        except OSError as exc:
            raise ProxyError(proxy.where, f"cannot connect: {_os_reason(exc)}") from None

    async def _tcp(
        self, factory: Callable[[], P], host: str, port: int, addresses: list[str], tls: ssl.SSLContext | None
    ) -> tuple[asyncio.Transport, P]:
        """Each address in turn, the next one started when the last fails or has not answered in
        ``stagger`` seconds (happy eyeballs); the first to connect wins and is tried first next time."""
        loop = asyncio.get_running_loop()
        name = host if tls is not None else None
        if len(addresses) == 1:
            return await loop.create_connection(factory, addresses[0], port, ssl=tls, server_hostname=name)
        attempts = [
            functools.partial(loop.create_connection, factory, address, port, ssl=tls, server_hostname=name)
            for address in addresses
        ]
        index, won = await self._race(attempts)
        self._prefer(host, port, addresses[index])
        return won

    async def _race(self, attempts: Sequence[Callable[[], Awaitable[tuple[Any, P]]]]) -> tuple[int, tuple[Any, P]]:
        """Start the next attempt when one fails or ``stagger`` passes; the first to connect wins, a
        second that connected in the same instant is closed, and the rest are cancelled."""
        started: dict[asyncio.Future[tuple[Any, P]], int] = {}
        pending: set[asyncio.Future[tuple[Any, P]]] = set()
        errors: list[BaseException] = []
        try:
            while True:
                if len(started) < len(attempts):
                    begun: asyncio.Future[tuple[Any, P]] = asyncio.ensure_future(attempts[len(started)]())
                    started[begun] = len(started)
                    pending.add(begun)
                more = len(started) < len(attempts)
                if not pending:
                    raise _telling(errors)
                done, pending = await asyncio.wait(
                    pending, timeout=self._stagger if more else None, return_when=asyncio.FIRST_COMPLETED
                )
                winner: asyncio.Future[tuple[Any, P]] | None = None
                for finished in sorted(done, key=started.__getitem__):
                    error = finished.exception()
                    if error is not None:
                        errors.append(error)
                    elif winner is None:
                        winner = finished
                    else:
                        finished.result()[0].close()
                if winner is not None:
                    return started[winner], winner.result()
        finally:
            for left in pending:
                left.cancel()

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            pass
        else:
            return [host]
        cached = self._dns.get((host, port))
        now = time.monotonic()
        if cached is not None and now - cached[0] < DNS_TTL:
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise DnsError(host, port, f"DNS lookup failed for {host}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise DnsError(host, port, f"DNS lookup failed for {host}")
        self._dns[(host, port)] = (now, addresses)
        return addresses

    def _prefer(self, host: str, port: int, address: str) -> None:
        cached = self._dns.get((host, port))
        if cached is not None and cached[1][0] != address and address in cached[1]:
            cached[1].remove(address)
            cached[1].insert(0, address)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = tls_context(self._settings, alpn=("http/1.1",))
        return self._tls


def _telling(errors: list[BaseException]) -> BaseException:
    """Of every address's failure, the one that says most: TLS, then a refusal, then the first."""
    for wanted in (ssl.SSLError, ConnectionResetError, ConnectionRefusedError):
        for error in errors:
            if isinstance(error, wanted):
                return error
    return errors[0] if errors else OSError(errno.EHOSTUNREACH, "no address answered")


def _os_reason(exc: OSError) -> str:
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__
