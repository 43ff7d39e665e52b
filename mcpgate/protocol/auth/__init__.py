"""OAuth 2.1 for load tests: access tokens from an authorization server, found as MCP clients find it.

``AuthSpec`` says how (grant, client, endpoint or discovery); ``AuthSource`` holds one
``TokenProvider`` per set of credentials, each caching its token for every virtual user
of the process that shares those credentials. Token requests go through aiohttp, never
the measured wire client: they are not MCP traffic, and are measured apart.
"""

from mcpgate.protocol.auth.grant import CLIENT_AUTH_METHODS, GRANTS, AuthSpec, Credentials
from mcpgate.protocol.auth.provider import AuthMeter, AuthSource, TokenProvider, key_algorithm

__all__ = [
    "CLIENT_AUTH_METHODS",
    "GRANTS",
    "AuthMeter",
    "AuthSource",
    "AuthSpec",
    "Credentials",
    "TokenProvider",
    "key_algorithm",
]
