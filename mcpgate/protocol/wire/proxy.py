"""Reaching an origin through an HTTP proxy: which origins go through one, and the CONNECT tunnel.

The route is decided once per origin (``ProxyRules.route``), so a run without a proxy
pays nothing per request. Plain-HTTP origins go to the proxy with the request target
in absolute form; https origins get a CONNECT tunnel, then TLS to the origin inside it.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from mcpgate.protocol.wire.connection import Connection
from mcpgate.protocol.wire.errors import ProxyError

PROXY_VARIABLES = tuple(n for v in ("http_proxy", "https_proxy", "all_proxy") for n in (v, v.upper()))
MAX_CONNECT_HEAD = 16 * 1024  # a proxy's answer to CONNECT: a status line and a few headers


@dataclass(frozen=True, slots=True)
class Proxy:
    """One proxy: where it is and the Proxy-Authorization its URL's credentials make (or "")."""

    host: str
    port: int
    authorization: str = ""
    url: str = field(default="", repr=False, compare=False)  # as given, credentials included: for aiohttp

    @property
    def where(self) -> str:
        """How messages name it: never with its credentials."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """``http://[user:password@]host[:port]``; a bare ``host:port`` is taken as http, as curl does.

    Raises ValueError with a reason that never repeats the credentials.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "http":
        raise ValueError(f"only http:// proxies are supported, not {parts.scheme}://")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError("has no host")
    authorization = ""
    if parts.username is not None or parts.password is not None:
        raw = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(raw).decode("ascii")
    return Proxy(parts.hostname, port, authorization, text)


@dataclass(frozen=True, slots=True)
class ProxyRules:
    """Which proxy each scheme's origins use, and the NO_PROXY entries that go direct instead."""

    http: Proxy | None = None
    https: Proxy | None = None
    no_proxy: tuple[str, ...] = ()

    def route(self, scheme: str, host: str, port: int) -> Proxy | None:
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or bypassed(self.no_proxy, host, port):
            return None
        return proxy

    def url_for(self, url: str) -> str | None:
        """The proxy URL (credentials included) a request to ``url`` goes through; None: direct."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        proxy = self.route(scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        return proxy.url or None if proxy is not None else None


def no_proxy_entries(text: str) -> tuple[str, ...]:
    return tuple(entry.strip().lower() for entry in text.split(",") if entry.strip())


def bypassed(entries: tuple[str, ...], host: str, port: int) -> bool:
    """curl's and requests' NO_PROXY: ``*``; a host or domain suffix (a leading dot is the same);
    ``host:port``; an IP literal or an IP network (``10.0.0.0/8``)."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in entries:
        if entry == "*":
            return True
        name, wanted = _split_port(entry)
        if wanted is not None and wanted != port:
            continue
        name = name.lstrip(".").rstrip(".")
        if not name:
            continue
        if address is not None and "/" in name:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                continue
        elif host == name or host.endswith("." + name):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [v6]:port or [v6]
        name, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return name, int(port) if port.isdigit() else None
    if entry.count(":") == 1:  # host:port; more colons: a bare IPv6 literal
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else None
    return entry, None


def rules_from(
    proxy: str | None, no_proxy: str | None, environ: Mapping[str, str]
) -> tuple[ProxyRules | None, list[str]]:
    """The run's rules: ``proxy``/``no_proxy`` when given, each winning over its environment
    variables (``http_proxy``, ``https_proxy``, ``all_proxy``, ``no_proxy``, lowercase first).

    Returns the rules (None: every origin direct) and the proxy URLs used, for the redactor.
    Raises ValueError naming the variable whose value is unusable.
    """
    entries = no_proxy_entries(no_proxy if no_proxy is not None else _env(environ, "no_proxy") or "")
    if proxy is not None:
        chosen = {"http": ("proxy", proxy), "https": ("proxy", proxy)}
    else:
        fallback = _env(environ, "all_proxy")
        chosen = {}
        for scheme in ("http", "https"):
            value = _env(environ, f"{scheme}_proxy") or fallback
            if value:
                chosen[scheme] = (f"{scheme}_proxy" if _env(environ, f"{scheme}_proxy") else "all_proxy", value)
    if not chosen or "*" in entries:
        return None, [value for _, value in chosen.values()]
    parsed: dict[str, Proxy] = {}
    for scheme, (name, value) in chosen.items():
        try:
            parsed[scheme] = parse_proxy(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    rules = ProxyRules(parsed.get("http"), parsed.get("https"), entries)
    return rules, [value for _, value in chosen.values()]


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name) or environ.get(name.upper()) or None


class ProxiedConnection(Connection):
    """A connection whose requests go to a proxy in absolute form: a 407 there is the proxy's,
    never the origin's, and fails as the proxy's refusal."""

    proxy: Proxy | None = None

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() == 407:
            where = self.proxy.where if self.proxy is not None else "?"
            self.keep_alive = False
            self._fail(ProxyError(where, "407 Proxy Authentication Required", _wanted(self.proxy)))
            return
        super().on_headers_complete()


def _wanted(proxy: Proxy | None) -> str:
    return "the proxy refused the credentials" if proxy and proxy.authorization else "no credentials were given"


class ConnectReply(asyncio.Protocol):
    """The proxy's answer to CONNECT, read up to the end of its head (a tunnel carries nothing before TLS)."""

    def __init__(self) -> None:
        self.head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if not self.head.done() and (end >= 0 or len(self._buffer) > MAX_CONNECT_HEAD):
            self.head.set_result(self._buffer[: end if end >= 0 else MAX_CONNECT_HEAD])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_result(b"")


def connect_request(host: str, port: int, proxy: Proxy) -> bytes:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def check_connect_reply(head: bytes, proxy: Proxy, authority: str) -> None:
    """Raise the proxy's refusal, named, unless it answered 2xx: the tunnel is open."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    version, _, rest = line.partition(" ")
    status, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not status.isdigit():
        what = "closed the connection" if not head else "answered CONNECT with something that is not HTTP"
        raise ProxyError(proxy.where, what, f"CONNECT {authority}")
    code = int(status)
    if 200 <= code < 300:
        return
    detail = f"CONNECT {authority}"
    if code == 407:
        detail = _wanted(proxy)
    elif code in (502, 503, 504):
        detail = f"it could not reach {authority}"
    raise ProxyError(proxy.where, f"{code} {reason.strip()}".strip(), detail)
