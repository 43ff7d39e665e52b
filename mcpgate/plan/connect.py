"""The target a config (or the probe's flags) names, as the ConnectSpec a session opens.

Checked here once, before any traffic: the URL, the headers and how the credentials are sent; and
every secret among them is registered with the run's redactor, so no output repeats it.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from mcpgate.config.models import TargetConfig
from mcpgate.config.target import check_url, parse_header
from mcpgate.plan.auth import target_auth
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.protocol.transport import LEGACY_SSE
from mcpgate.protocol.versions import is_modern
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor


def connect_spec(target: TargetConfig) -> tuple[ConnectSpec, Redactor]:
    redact = Redactor()
    check_url(target.url, "target.url")
    redact.add_url(target.url)
    headers: dict[str, str] = {}
    for name, value in target.headers.items():
        header, clean = parse_header(f"{name}: {value}", f"target.headers.{name}")
        headers[header] = clean
    has_auth = any(name.lower() == "authorization" for name in headers)
    given, where, oauth = target_auth(target, redact)
    if urlsplit(target.url).password is not None and (given or has_auth or oauth):
        # The URL's credentials go as HTTP Basic auth; a second Authorization cannot go too.
        raise UsageError(
            "target.url",
            "has credentials (sent as Basic auth) and a bearer token or Authorization header too; keep one",
        )
    if oauth is not None and has_auth:
        raise UsageError(where, "an Authorization header is set too; keep one")
    if given:
        if has_auth:
            raise UsageError(where, "an Authorization header is set too; keep one")
        token = given.strip()
        if not token or any(c in token for c in "\r\n"):
            raise UsageError(where, "must be one non-empty line")
        headers["Authorization"] = f"Bearer {token}"
        redact.add(token)
    redact.add_headers(headers)
    if target.transport == LEGACY_SSE and is_modern(target.protocol_version):
        raise UsageError("target.protocol_version", f"{target.protocol_version} has no legacy SSE transport")
    for key, seconds in (("timeout", target.timeout), ("connect_timeout", target.connect_timeout)):
        if seconds <= 0:
            raise UsageError(f"target.{key}", "must be more than 0")
    settings = HttpSettings(
        timeout=target.timeout,
        connect_timeout=min(target.connect_timeout, target.timeout),
        max_response_bytes=target.max_response_bytes,
        headers=headers,
        verify_tls=not target.insecure,
        ca_file=_ca_file(target.ca_file),
    )
    expect = target.expect_protocol_version if target.expect_protocol_version != "auto" else None
    spec = ConnectSpec(target.url, target.transport, target.protocol_version, settings, expect, auth=oauth)
    return spec, redact


def _ca_file(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as exc:  # ValueError: a NUL in the name
        raise UsageError("target.ca_file", f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    return path
