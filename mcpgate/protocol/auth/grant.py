"""What a token request needs: the grant, the client's credentials, and where to send it."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcpgate.protocol.wire.proxy import ProxyRules
from mcpgate.support.tls import TlsSettings

CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"
GRANTS = (CLIENT_CREDENTIALS, REFRESH_TOKEN)

BASIC = "client_secret_basic"
POST = "client_secret_post"
PRIVATE_KEY_JWT = "private_key_jwt"  # a JWT signed with the client's key (RFC 7523), no shared secret
NONE = "none"  # a public client: its id in the form, no secret (a refresh token's usual case)
CLIENT_AUTH_METHODS = (BASIC, POST, PRIVATE_KEY_JWT, NONE)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who asks: a client (id, and secret or private key), and for the refresh_token grant the token it holds."""

    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)  # PEM, for private_key_jwt
    key_id: str | None = None  # the kid the authorization server knows the key by


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """How every token of a run is asked for; the credentials may differ per virtual user."""

    grant: str  # client_credentials | refresh_token
    mcp_url: str  # the protected resource: discovery starts from it
    credentials: Credentials
    client_auth: str = BASIC
    token_url: str | None = None  # given: no discovery
    resource: str | None = None  # RFC 8707 resource indicator
    scope: str | None = None
    timeout: float = 10.0
    connect_timeout: float = 5.0
    tls: TlsSettings = field(default_factory=TlsSettings)  # the run's: a private CA, a client certificate
    proxy: ProxyRules | None = None  # the run's proxies: token requests take the same way out


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """What a token endpoint issued."""

    access_token: str = field(repr=False)
    expires_in: float | None
    refresh_token: str | None = field(repr=False)
