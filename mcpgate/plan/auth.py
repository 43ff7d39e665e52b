"""``target.auth`` (and ``target.bearer_token``) checked, and turned into what a session sends.

A bearer token is a fixed header; an OAuth grant becomes an ``AuthSource`` that asks the
authorization server for access tokens. Every secret (the client's, a refresh token, and
the Basic credentials they make) is registered with the run's redactor here, before any
traffic; access tokens are registered as they are issued.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from mcpgate.config.auth import AuthConfig
from mcpgate.config.models import TargetConfig
from mcpgate.config.target import check_url
from mcpgate.protocol.auth import AuthSource, AuthSpec, Credentials, key_algorithm
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor
from mcpgate.support.tls import TlsSettings

_FIELD = "target.auth"


def target_auth(target: TargetConfig, redact: Redactor) -> tuple[str | None, str, AuthSource | None]:
    """A fixed bearer token (and the field it came from), or the OAuth source; or neither."""
    auth = target.auth
    if auth is None:
        return target.bearer_token, "target.bearer_token", None
    if target.bearer_token:
        raise UsageError(_FIELD, "target.bearer_token is set too; keep one")
    if auth.type == "bearer":
        _only(auth, ("token",), "bearer")
        if auth.token is None:
            raise UsageError(f"{_FIELD}.token", "required with type: bearer")
        return auth.token, f"{_FIELD}.token", None
    return None, _FIELD, AuthSource(_spec(target, auth, redact), redact)


def _spec(target: TargetConfig, auth: AuthConfig, redact: Redactor) -> AuthSpec:
    own = (
        *("client_id", "client_secret", "client_auth", "private_key", "key_id"),
        *("token_url", "resource", "scope", "credentials"),
    )
    _only(auth, (*own, "refresh_token") if auth.type == "refresh_token" else own, auth.type)
    credentials = Credentials(auth.client_id, auth.client_secret, auth.refresh_token, auth.private_key, auth.key_id)
    secrets = auth.client_secret is not None or (auth.credentials is not None and auth.type == "client_credentials")
    client_auth = auth.client_auth or (
        "private_key_jwt" if auth.private_key else "client_secret_basic" if secrets else "none"
    )
    if auth.private_key is not None:
        try:
            key_algorithm(auth.private_key)
        except ValueError as exc:
            raise UsageError(f"{_FIELD}.private_key", str(exc)) from None
        if client_auth != "private_key_jwt":
            raise UsageError(f"{_FIELD}.private_key", "applies to client_auth: private_key_jwt only")
    if auth.credentials is None:
        _check_credentials(auth.type, credentials, client_auth, _FIELD)
    for key in ("token_url", "resource"):
        if (url := getattr(auth, key)) is not None:
            check_url(url, f"{_FIELD}.{key}")
    for key in ("scope", "client_id"):
        if (text := getattr(auth, key)) is not None and (not text.strip() or not text.isprintable()):
            raise UsageError(f"{_FIELD}.{key}", "must be one non-empty line")
    _register(credentials, redact)
    return AuthSpec(
        grant=auth.type,
        mcp_url=target.url,
        credentials=credentials,
        client_auth=client_auth,
        token_url=auth.token_url,
        resource=auth.resource or target.url,
        scope=auth.scope,
        timeout=target.timeout,
        connect_timeout=min(target.connect_timeout, target.timeout),
        tls=TlsSettings(verify=not target.insecure, ca_file=target.ca_file),
    )


def _only(auth: AuthConfig, allowed: Sequence[str], kind: str) -> None:
    for key in sorted(auth.model_fields_set - {"type", *allowed}):
        if getattr(auth, key) is not None:
            raise UsageError(f"{_FIELD}.{key}", f"does not apply to type: {kind}")


def _check_credentials(grant: str, credentials: Credentials, client_auth: str, where: str) -> None:
    """Credentials complete for the grant; ``where`` names the field (or the dataset row)."""
    if grant == "client_credentials" and not credentials.client_id:
        raise UsageError(f"{where}.client_id", "required with type: client_credentials")
    if client_auth == "private_key_jwt":
        if not credentials.private_key:
            raise UsageError(f"{where}.private_key", "required with client_auth: private_key_jwt")
        if not credentials.client_id:
            raise UsageError(f"{where}.client_id", "required with client_auth: private_key_jwt")
    elif grant == "client_credentials" and not credentials.client_secret:
        raise UsageError(f"{where}.client_secret", "required with type: client_credentials")
    if grant == "client_credentials" and client_auth == "none":
        raise UsageError(
            f"{where}.client_auth", "a confidential client: client_secret_basic, client_secret_post or private_key_jwt"
        )
    if client_auth not in ("none", "private_key_jwt") and not credentials.client_secret:
        raise UsageError(f"{where}.client_secret", f"required with client_auth: {client_auth}")
    if grant == "refresh_token" and not credentials.refresh_token:
        raise UsageError(f"{where}.refresh_token", "required with type: refresh_token")
    for name in ("client_id", "client_secret", "refresh_token"):
        value = getattr(credentials, name)
        if value is not None and (not value or any(c in value for c in "\r\n\0")):
            raise UsageError(f"{where}.{name}", "must be one non-empty line")


def _register(credentials: Credentials, redact: Redactor) -> None:
    redact.add(credentials.client_secret)
    redact.add(credentials.refresh_token)
    if credentials.private_key is not None:
        redact.add(credentials.private_key.strip())
        for line in credentials.private_key.splitlines():  # a line of it, quoted alone
            if not line.startswith("-----"):
                redact.add(line.strip())
    if credentials.client_id is not None and credentials.client_secret is not None:
        # As Basic auth sends them: a server echoing that header must not reveal them either.
        joined = f"{quote(credentials.client_id, safe='')}:{quote(credentials.client_secret, safe='')}"
        redact.add(base64.b64encode(joined.encode()).decode("ascii"))


def tenants(
    source: AuthSource, auth: AuthConfig, datasets: Mapping[str, list[dict[str, Any]]], redact: Redactor
) -> None:
    """Each VU's own credentials, from ``auth.credentials``' dataset: a row per tenant."""
    name = auth.credentials
    if name is None:
        return
    rows = datasets.get(name)
    if rows is None:
        raise UsageError(f"{_FIELD}.credentials", f"no dataset named {name!r}")
    found = []
    for index, row in enumerate(rows):
        where = f"datasets.{name}[{index}]"
        given = {key: row.get(key) for key in ("client_id", "client_secret", "refresh_token")}
        for key, value in given.items():
            if value is not None and not isinstance(value, str):
                raise UsageError(f"{where}.{key}", "must be a string")
        own = source.spec.credentials
        credentials = Credentials(
            given["client_id"] or own.client_id,
            given["client_secret"] or own.client_secret,
            given["refresh_token"] or own.refresh_token,
            own.private_key,
            own.key_id,
        )
        _check_credentials(source.spec.grant, credentials, source.spec.client_auth, where)
        _register(credentials, redact)
        found.append(credentials)
    source.tenants = tuple(found)
