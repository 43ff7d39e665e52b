"""aiohttp for every HTTP call that is not measured MCP traffic: monitor APIs, token endpoints,
metric outputs. Measured MCP requests go through ``protocol.wire`` instead (several times
faster under load); these calls are few, so a full client's features are worth more here.

``trust_env``: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (and ``~/.netrc``) apply, as for
any well-behaved CLI; ``SSL_CERT_FILE`` reaches the default roots through ``tls_context``.
"""

from __future__ import annotations

import aiohttp

from mcpgate import __version__
from mcpgate.support.tls import TlsSettings, tls_context

USER_AGENT = f"mcpgate/{__version__}"


def web_session(
    *, timeout: float, connect_timeout: float | None = None, tls: TlsSettings | None = None, limit: int = 16
) -> aiohttp.ClientSession:
    """A client session with a total deadline per request and a bounded connection pool."""
    connector = aiohttp.TCPConnector(ssl=tls_context(tls or TlsSettings()), limit=limit)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout or timeout),
        trust_env=True,
        headers={"User-Agent": USER_AGENT},
    )
