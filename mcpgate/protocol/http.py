"""HTTP plumbing shared by the transports: settings, bounded reads, and naming failures.

Every exception the wire client or the OS can raise maps to exactly one outcome class
here, so the transports never guess and a server's failure reads the same
whichever transport met it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from mcpgate.protocol.jsonrpc import MODERN_ERROR_CODES, RequestId, error_failure, same_id
from mcpgate.protocol.outcome import Failure, Kind, fail, protocol_error, shorten
from mcpgate.protocol.wire.connection import Response
from mcpgate.protocol.wire.errors import (
    BadEncoding,
    BodyCutOff,
    ConnectError,
    ConnectTimeout,
    DnsError,
    ProxyError,
    RequestTimeout,
    ServerDisconnected,
    TlsError,
    UnknownEncoding,
    WireError,
)
from mcpgate.protocol.wire.pool import Pool
from mcpgate.protocol.wire.proxy import ProxyRules
from mcpgate.support.tls import TlsSettings

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
ERROR_BODY_BYTES = 64 * 1024  # enough to name an error, never a whole error page


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Per-request limits and the headers every request carries."""

    timeout: float = 10.0  # total per request, until its JSON-RPC response is in
    connect_timeout: float = 5.0
    cookies: bool = True  # a cookie jar per session (a load balancer's sticky-session cookie)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    headers: Mapping[str, str] = field(default_factory=dict)
    # How long to wait for a server to end an SSE response stream after the
    # response event, so the connection can be reused instead of closed.
    drain_grace: float = 0.1
    tls: TlsSettings = field(default_factory=TlsSettings)  # how servers are verified, and our client certificate
    proxy: ProxyRules | None = None  # None: every origin direct


def connection_limit(vus: int) -> int:
    """Connections one process may open for ``vus`` virtual users.

    Each VU may have a request in flight, a held stream (the GET stream, or the legacy SSE
    stream, each pinning its connection for the session's life) and a short background POST
    (an answer to a server request, a cancel) at once: three each, so held streams never
    starve the requests.
    """
    return max(100, 3 * vus)


def make_http(settings: HttpSettings, *, limit: int = 0) -> Pool:
    """One connection pool; shared by all virtual users of a process."""
    return Pool(
        connect_timeout=settings.connect_timeout,
        tls=settings.tls,
        proxies=settings.proxy,
        limit=limit,
    )


def seconds(value: float) -> str:
    return f"{value:g}s"


def classify_exception(exc: BaseException, settings: HttpSettings) -> Failure:
    """Map anything a request can raise to the one failure it means."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, WireError):
        return _wire_failure(exc, settings)
    if isinstance(exc, TimeoutError):
        return fail(Kind.TIMEOUT, f"no response within {seconds(settings.timeout)}")
    if isinstance(exc, ssl.SSLError):
        return fail(Kind.CONNECTION_ERROR, f"TLS failed: {_ssl_reason(exc)}")
    if isinstance(exc, ConnectionResetError):
        return fail(Kind.CONNECTION_ERROR, "connection reset by peer")
    if isinstance(exc, OSError):
        return fail(Kind.CONNECTION_ERROR, _os_reason(exc))
    if isinstance(exc, UnicodeDecodeError):
        return protocol_error("response is not valid UTF-8")
    if isinstance(exc, ValueError):
        # What the server sent made a parser give up (a URL, a header): its fault, not a crash.
        return protocol_error(shorten(f"unusable response: {exc}", 160))
    raise exc  # a bug, not a server failure


def _os_reason(exc: OSError) -> str:
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return shorten(exc.strerror or str(exc) or type(exc).__name__, 120)


def _ssl_reason(exc: BaseException) -> str:
    inner = getattr(exc, "os_error", exc)
    reason = getattr(inner, "reason", None) or getattr(inner, "strerror", None) or str(inner)
    return shorten(str(reason), 120)


def _wire_failure(exc: WireError, settings: HttpSettings) -> Failure:
    if isinstance(exc, ConnectTimeout):
        return fail(Kind.TIMEOUT, f"connect timed out after {seconds(settings.connect_timeout)}")
    if isinstance(exc, RequestTimeout):
        return fail(Kind.TIMEOUT, f"no response within {seconds(settings.timeout)}")
    if isinstance(exc, ProxyError):
        return fail(Kind.CONNECTION_ERROR, str(exc))
    if isinstance(exc, DnsError):
        return fail(Kind.CONNECTION_ERROR, f"DNS lookup failed for {exc.host}")
    if isinstance(exc, TlsError):
        what = "TLS certificate rejected" if exc.certificate else "TLS handshake failed"
        return fail(Kind.CONNECTION_ERROR, f"{what}: {shorten(exc.reason, 120)}")
    if isinstance(exc, ConnectError):
        return fail(Kind.CONNECTION_ERROR, str(exc))
    if isinstance(exc, ServerDisconnected):
        return fail(Kind.CONNECTION_ERROR, "server closed the connection before responding")
    if isinstance(exc, BodyCutOff):
        return fail(Kind.CONNECTION_ERROR, f"response cut off: {exc}")
    if isinstance(exc, UnknownEncoding):
        coding = shorten(exc.coding, 40)
        return protocol_error(f"response body has Content-Encoding {coding!r}, which was not offered (gzip, deflate)")
    if isinstance(exc, BadEncoding):
        return protocol_error(f"invalid compressed body: {shorten(str(exc), 100)}")
    return protocol_error(shorten(str(exc), 160))


async def read_body(resp: Response, cap: int) -> bytes:
    """Read a whole body, failing as soon as it passes ``cap``: the excess is never held."""
    length = resp.content_length
    if length is not None and length > cap:
        raise protocol_error(f"response body of {length} bytes exceeds the {cap}-byte limit", http_status=resp.status)
    chunks: list[bytes] = []
    total = 0
    while chunk := await resp.content.readany():
        total += len(chunk)
        if total > cap:
            raise protocol_error(f"response body exceeds the {cap}-byte limit", http_status=resp.status)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def body_excerpt(body: bytes, content_type: str) -> str:
    """What a human needs from an unexpected body: an HTML page's title, or its first words."""
    if "html" in content_type or body.lstrip()[:1] == b"<":
        m = _TITLE.search(body)
        title = m.group(1).decode("utf-8", "replace").strip() if m else ""
        return f"HTML page {title!r}" if title else "an HTML page"
    text = body.decode("utf-8", "replace").strip()
    return repr(shorten(text, 100)) if text else "an empty body"


ERROR_BODY_WAIT = 0.5  # seconds to read an error body: the status alone already says enough


def body_wait(started: float, settings: HttpSettings) -> float:
    """How long an error body may take: briefly, and well inside the request's own deadline."""
    left = started + settings.timeout - asyncio.get_running_loop().time()
    return max(0.0, min(ERROR_BODY_WAIT, 0.8 * left))


async def status_failure(resp: Response, request_id: RequestId | None, wait: float) -> Failure:
    """Name a non-2xx answer: a JSON-RPC error to our request, or an HTTP error."""
    status = resp.status
    if 300 <= status < 400:
        where = resp.headers.get("Location")
        to = f" to {shorten(where, 100)!r}" if where else ""
        why = (
            "on another origin: not followed"
            if status in (307, 308)
            else "only 307/308 to the same origin are followed"
        )
        return fail(Kind.HTTP_ERROR, f"redirect{to} ({why})", http_status=status)
    body = b""
    with contextlib.suppress(Failure, WireError, OSError, TimeoutError):
        async with asyncio.timeout(wait):
            body = await read_body(resp, ERROR_BODY_BYTES)
    msg = _json_or_none(body)
    if isinstance(msg, dict) and isinstance(msg.get("error"), dict):
        if request_id is not None and same_id(msg.get("id"), request_id):
            return error_failure(msg["error"], status)
        code = msg["error"].get("code")
        if request_id is not None and msg.get("id") is None and code in MODERN_ERROR_CODES:
            return error_failure(msg["error"], status)  # a modern rejection before the id was read
        message = msg["error"].get("message")
        detail = shorten(str(message)) if message else "JSON-RPC error without an id"
    elif isinstance(msg, dict) and isinstance(msg.get("error"), str):
        detail = shorten(str(msg.get("error_description") or msg["error"]))  # OAuth-style error bodies
    else:
        detail = body_excerpt(body, resp.content_type) if body else (resp.reason or "")
    extras = []
    if status == 401 and (www := resp.headers.get("WWW-Authenticate")):
        extras.append(f"WWW-Authenticate: {shorten(www, 160)}")
    if status in (429, 503) and (after := resp.headers.get("Retry-After")):
        extras.append(f"Retry-After: {shorten(after, 40)}")
    reason = "; ".join([detail, *extras]) if extras else detail
    return fail(Kind.HTTP_ERROR, reason or f"HTTP {status}", http_status=status)


def _json_or_none(body: bytes) -> object:
    if not body or body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
