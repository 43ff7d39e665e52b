"""The target a config (or the probe's flags) names, as the ConnectSpec a session opens.

Checked here once, before any traffic: the URL, the headers and how the credentials are sent; and
every secret among them is registered with the run's redactor, so no output repeats it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from mcpgate.config.client import ClientConfig
from mcpgate.config.models import TargetConfig
from mcpgate.config.target import check_url, parse_header
from mcpgate.plan.auth import target_auth
from mcpgate.plan.tlsfiles import tls_settings
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.protocol.transport import LEGACY_SSE
from mcpgate.protocol.versions import is_modern
from mcpgate.protocol.wire.proxy import PROXY_VARIABLES, ProxyRules, parse_proxy, rules_from
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor
from mcpgate.workload.client_answers import client_answers


def connect_spec(target: TargetConfig, environ: Mapping[str, str] | None = None) -> tuple[ConnectSpec, Redactor]:
    """``environ`` (default: the process's) is where HTTP_PROXY and the like are read."""
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
        cookies=target.cookies,
        max_response_bytes=target.max_response_bytes,
        headers=headers,
        proxy=_proxy(target, redact, os.environ if environ is None else environ),  # its secrets first
        tls=tls_settings(target),
    )
    expect = target.expect_protocol_version if target.expect_protocol_version != "auto" else None
    if oauth is not None:  # token requests leave as the MCP requests do: the same proxies and TLS
        oauth.spec = replace(oauth.spec, proxy=settings.proxy, tls=settings.tls)
    spec = ConnectSpec(target.url, target.transport, target.protocol_version, settings, expect, auth=oauth)
    return spec, redact


def with_answers(spec: ConnectSpec, client: ClientConfig, seed: int | None = None) -> ConnectSpec:
    """The spec whose sessions answer the server's requests as ``client:`` configures (templates
    compiled here, so a bad one is a config error before any traffic)."""
    return replace(spec, client=client_answers(client, seed))


def _proxy(target: TargetConfig, redact: Redactor, environ: Mapping[str, str]) -> ProxyRules | None:
    """The run's proxy rules, decided once here: the target's settings, else the environment's.
    Every proxy URL's credentials are secrets from here on, whichever was chosen."""
    for value in (target.proxy, *(environ.get(name) for name in PROXY_VARIABLES)):
        if value:
            redact.add_url(value if "://" in value else f"http://{value}")
    if target.proxy is not None:
        try:
            parse_proxy(target.proxy)
        except ValueError as exc:
            raise UsageError("target.proxy", str(exc)) from None
    try:
        rules, _ = rules_from(target.proxy, target.no_proxy, environ)
    except ValueError as exc:
        name, _, reason = str(exc).partition(": ")
        message = f"{reason}; set target.proxy, or target.no_proxy '*' to go direct"
        raise UsageError(name.upper(), message) from None
    return rules
