"""Where the token endpoint is, found as MCP clients find it (MCP authorization, 2025-06-18 on).

1. The MCP server's 401 names its protected resource metadata (``WWW-Authenticate:
   Bearer resource_metadata="…"``, RFC 9728); a server that names none is asked at
   ``/.well-known/oauth-protected-resource`` with the endpoint's path, then without it.
2. Its first ``authorization_servers`` entry is an issuer, whose metadata is RFC 8414's
   ``/.well-known/oauth-authorization-server`` or OpenID Connect discovery's
   ``/.well-known/openid-configuration`` (path-inserted and path-appended forms alike).
3. That metadata's ``token_endpoint`` is where tokens are asked for.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson

from mcpgate.protocol.auth.errors import DiscoveryError
from mcpgate.protocol.outcome import shorten
from mcpgate.support.web import RoutedWeb, read_capped

MAX_METADATA_BYTES = 256 * 1024  # a metadata document is a few KB
_PROBE = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "mcpgate"}},
    }
)
_RESOURCE_METADATA = re.compile(r'resource_metadata\s*=\s*(?:"([^"]*)"|([^\s,]+))', re.IGNORECASE)


async def token_endpoint(http: RoutedWeb, mcp_url: str) -> str:
    """The token endpoint of the authorization server that protects ``mcp_url``."""
    hint = await _resource_metadata_hint(http, mcp_url)
    candidates = ([hint] if hint else []) + well_known(mcp_url, "oauth-protected-resource", path_only=False)
    issuer: str | None = None
    for url in dict.fromkeys(candidates):
        doc = await _document(http, url)
        servers = doc.get("authorization_servers") if doc is not None else None
        if isinstance(servers, list) and servers and isinstance(servers[0], str):
            issuer = servers[0]
            break
    if issuer is None:
        tried = ", ".join(dict.fromkeys(candidates))
        raise DiscoveryError(f"no protected resource metadata naming an authorization server (tried {tried})")
    urls = authorization_server_metadata(issuer)
    for url in urls:
        doc = await _document(http, url)
        if doc is not None and isinstance(doc.get("token_endpoint"), str):
            return str(doc["token_endpoint"])
    raise DiscoveryError(
        f"authorization server {issuer} has no metadata with a token_endpoint (tried {', '.join(urls)})"
    )


def well_known(url: str, name: str, *, path_only: bool) -> list[str]:
    """``/.well-known/NAME`` with the URL's path appended, then at the root (unless ``path_only``)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    found = []
    if path:
        found.append(urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path}", "", "")))
    if not path or not path_only:
        found.append(urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}", "", "")))
    return found


def authorization_server_metadata(issuer: str) -> list[str]:
    """Where an issuer's metadata may be, in the order the MCP spec gives."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    urls = [
        *well_known(issuer, "oauth-authorization-server", path_only=True),
        *well_known(issuer, "openid-configuration", path_only=True),
    ]
    if path:
        urls.append(urlunsplit((parts.scheme, parts.netloc, f"{path}/.well-known/openid-configuration", "", "")))
    return urls


async def _resource_metadata_hint(http: RoutedWeb, mcp_url: str) -> str | None:
    """What the MCP server's 401 to a request without a token names, if anything."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    try:
        async with http.post(mcp_url, data=_PROBE, headers=headers, allow_redirects=False) as resp:
            if resp.status != 401:
                return None
            challenge = resp.headers.get("WWW-Authenticate", "")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise DiscoveryError(f"cannot reach {mcp_url} to find its authorization server: {_reason(exc)}") from None
    m = _RESOURCE_METADATA.search(challenge)
    return (m.group(1) or m.group(2)) if m else None


async def _document(http: RoutedWeb, url: str) -> dict[str, object] | None:
    """A JSON object served at ``url`` with 200, or None (not there, not JSON, unreachable)."""
    try:
        async with http.get(url, headers={"Accept": "application/json"}) as resp:
            if resp.status != 200:
                return None
            body = await read_capped(resp, MAX_METADATA_BYTES)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    try:
        doc = orjson.loads(body) if body is not None else None
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return shorten(str(exc) or type(exc).__name__, 120)
