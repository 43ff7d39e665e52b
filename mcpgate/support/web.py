"""aiohttp for every HTTP call that is not measured MCP traffic: monitor APIs, token endpoints,
metric outputs. Measured MCP requests go through ``protocol.wire`` instead (several times
faster under load); these calls are few, so a full client's features are worth more here.

``trust_env``: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (and ``~/.netrc``) apply, as for
any well-behaved CLI; ``SSL_CERT_FILE`` reaches the default roots through ``tls_context``.
Loopback is no exception: ``127.0.0.1`` goes through the proxy unless ``NO_PROXY`` names it.

A caller that sends its own ``Authorization`` header asks for ``netrc=False``: aiohttp would
otherwise add a ``~/.netrc`` login for the same host and refuse the request (two credentials),
or send that login where none was meant. Without ``trust_env`` aiohttp reads no proxy either,
so such a caller passes ``env_proxy(url)`` with each request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.client import _RequestContextManager
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from mcpgate import __version__
from mcpgate.support.tls import TlsSettings, tls_context

USER_AGENT = f"mcpgate/{__version__}"


@dataclass(frozen=True, slots=True)
class EnvProxy:
    """The proxy the environment names for a URL."""

    address: str  # without credentials: fit to show
    url: str = field(repr=False)  # with them, for aiohttp's ``proxy=`` (it sends them as Proxy-Authorization)


def web_session(
    *,
    timeout: float,
    connect_timeout: float | None = None,
    tls: TlsSettings | None = None,
    limit: int = 16,
    netrc: bool = True,
) -> aiohttp.ClientSession:
    """A client session with a total deadline per request and a bounded connection pool."""
    connector = aiohttp.TCPConnector(ssl=tls_context(tls or TlsSettings()), limit=limit)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout or timeout),
        trust_env=netrc,
        headers={"User-Agent": USER_AGENT},
    )


Route = Callable[[str], str | None]  # a URL -> the proxy URL (credentials included) to send it through; None: direct


class RoutedWeb:
    """A client session whose every request goes through the proxy ``route`` picks for its URL.

    For callers whose proxy comes from the run's own settings (``--proxy``, ``NO_PROXY``), not
    only from the environment, and who send their own ``Authorization``: the session itself
    reads neither the environment nor ``~/.netrc``.
    """

    __slots__ = ("_route", "session")

    def __init__(self, session: aiohttp.ClientSession, route: Route) -> None:
        self.session = session
        self._route = route

    def get(self, url: str, **kwargs: Any) -> _RequestContextManager:
        return self.session.get(url, proxy=self._route(url), **kwargs)

    def post(self, url: str, **kwargs: Any) -> _RequestContextManager:
        return self.session.post(url, proxy=self._route(url), **kwargs)

    async def __aenter__(self) -> RoutedWeb:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


def routed_session(
    route: Route,
    *,
    timeout: float,
    connect_timeout: float | None = None,
    tls: TlsSettings | None = None,
    limit: int = 16,
) -> RoutedWeb:
    session = web_session(timeout=timeout, connect_timeout=connect_timeout, tls=tls, limit=limit, netrc=False)
    return RoutedWeb(session, route)


async def read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The whole body, or None once it passes ``cap`` bytes (the excess is never held)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_any():
        total += len(chunk)
        if total > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def env_proxy(url: str) -> EnvProxy | None:
    """The proxy ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` pick for ``url`` (as ``trust_env`` would); None: direct."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(url))
    except (LookupError, ValueError):
        return None
    address = proxy.with_user(None)
    with_login = address.with_user(auth.login).with_password(auth.password) if auth is not None else address
    return EnvProxy(str(address), str(with_login))
