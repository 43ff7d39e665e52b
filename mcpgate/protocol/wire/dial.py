"""Opening a connection: DNS (cached), TCP, TLS, each failure named, all within a timeout."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time

from mcpgate.protocol.wire.connection import Connection, Key
from mcpgate.protocol.wire.errors import ConnectError, ConnectTimeout, DnsError, RequestTimeout, TlsError

DNS_TTL = 300.0


class Dialer:
    """The connect side of a pool: its TLS context, built once, and its DNS answers."""

    def __init__(self, *, connect_timeout: float, verify_tls: bool, ca_file: str | None) -> None:
        self._connect_timeout = connect_timeout
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._tls: ssl.SSLContext | None = None
        self._verify_tls = verify_tls
        self._ca_file = ca_file

    async def connect(self, key: Key, deadline: float | None) -> Connection:
        """A new connection to ``key``'s origin, by the connect timeout or ``deadline``, whichever is first."""
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        give_up = loop.time() + self._connect_timeout
        late = deadline is not None and deadline < give_up  # the request's deadline comes first
        try:
            async with asyncio.timeout_at(deadline if late and deadline is not None else give_up):
                address = await self._resolve(host, port)
                _, conn = await loop.create_connection(
                    lambda: Connection(key),
                    address,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except TimeoutError:
            if late:
                raise RequestTimeout("the deadline passed while connecting") from None
            raise ConnectTimeout(host, port, f"connect timed out after {self._connect_timeout:g}s") from None
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
        return conn

    async def _resolve(self, host: str, port: int) -> str:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            pass
        else:
            return host
        cached = self._dns.get((host, port))
        now = time.monotonic()
        if cached is not None and now - cached[0] < DNS_TTL:
            return cached[1][0]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise DnsError(host, port, f"DNS lookup failed for {host}") from None
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise DnsError(host, port, f"DNS lookup failed for {host}")
        self._dns[(host, port)] = (now, addresses)
        return addresses[0]

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            if self._verify_tls:
                context = ssl.create_default_context(cafile=self._ca_file)
            else:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls


def _os_reason(exc: OSError) -> str:
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__
