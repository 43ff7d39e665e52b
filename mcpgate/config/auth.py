"""``target.auth``: how mcpgate gets the credentials it sends, from a fixed token to OAuth 2.1 grants.

``bearer`` sends a token as it is (``target.bearer_token`` is its short form).
``client_credentials`` asks the authorization server for access tokens as a client
(machine to machine); ``refresh_token`` turns a refresh token issued beforehand (by an
authorization-code login) into access tokens, for servers that offer no other grant.
The token endpoint is found as MCP clients find it, unless ``token_url`` names it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AuthType = Literal["bearer", "client_credentials", "refresh_token"]
ClientAuth = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: AuthType = Field(
        description="bearer: a fixed token; client_credentials or refresh_token: OAuth access tokens "
        "(default: what the keys given imply)"
    )
    token: str | None = Field(None, description="bearer: the token; use ${ENV_VAR}")
    client_id: str | None = None
    client_secret: str | None = Field(None, description="use ${ENV_VAR}")
    client_auth: ClientAuth | None = Field(
        None,
        description="How the client authenticates to the token endpoint "
        "(default: private_key_jwt with a private key, client_secret_basic with a secret, else none)",
    )
    private_key: str | None = Field(
        None, description="private_key_jwt: the client's PEM private key (RSA, EC or Ed25519); use ${ENV_VAR}"
    )
    key_id: str | None = Field(None, description="private_key_jwt: the key's kid, when the server asks for one")
    refresh_token: str | None = Field(None, description="refresh_token: the token issued beforehand; use ${ENV_VAR}")
    token_url: str | None = Field(None, description="The token endpoint (default: discovered from the MCP server)")
    resource: str | None = Field(None, description="RFC 8707 resource indicator (default: target.url)")
    scope: str | None = Field(None, description="Scopes to ask for, space-separated")
    credentials: str | None = Field(
        None,
        description="A dataset whose rows give each VU its own client_id/client_secret (or refresh_token), "
        "row by VU number",
    )

    @model_validator(mode="before")
    @classmethod
    def _implied_type(cls, value: Any) -> Any:
        if isinstance(value, dict) and "type" not in value:
            if value.get("refresh_token") is not None:
                value = {**value, "type": "refresh_token"}
            elif value.get("token") is not None:
                value = {**value, "type": "bearer"}
            elif value.get("client_id") is not None or value.get("credentials") is not None:
                value = {**value, "type": "client_credentials"}
        return value
