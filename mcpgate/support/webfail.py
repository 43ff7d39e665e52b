"""One clear line for whatever kept an aiohttp request from its answer.

aiohttp's own messages name its internals ("Cannot connect to host h:p ssl:default
[Connect call failed ...]"); a person needs what failed and where: the server, its
certificate, or the proxy in between. The lines match the ones the wire client's failures
read as, so a monitor poll and an MCP request that meet the same fault say the same thing.
"""

from __future__ import annotations

import os
import ssl

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError, ContentLengthError, TransferEncodingError


def web_failure(
    exc: BaseException, *, timeout: float, connect_timeout: float | None = None, proxy: str | None = None
) -> str:
    """The reason ``exc`` stopped a request; ``proxy`` (shown as is: no credentials) when one carried it.

    Anything that is not a network failure (a ValueError from bad arguments, a bug) is raised again.
    """
    reason = _proxy_failure(exc, proxy, connect_timeout or timeout)
    if reason is not None:
        return reason
    reason = _failure(exc, timeout, connect_timeout or timeout)
    return f"{reason} (through the proxy {proxy})" if proxy else reason


def _proxy_failure(exc: BaseException, proxy: str | None, connect_timeout: float) -> str | None:
    """The failures that are the proxy's own: it is named first, it is what to fix."""
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"cannot connect to the proxy {proxy or _where(exc)}: {_os_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        said = f"HTTP {exc.status} {exc.message}".rstrip()
        who = f"the proxy {proxy}" if proxy else "the proxy"
        return f"{who} refused to open a tunnel: {_short(said)}"
    if proxy and isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connecting to the proxy {proxy} timed out after {_seconds(connect_timeout)}"
    return None


def _failure(exc: BaseException, timeout: float, connect_timeout: float) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cause = exc.certificate_error
        return f"TLS certificate rejected: {_short(getattr(cause, 'verify_message', None) or str(cause))}"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return f"TLS handshake failed: {_ssl_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed for {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {_where(exc)}: {_os_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connect timed out after {_seconds(connect_timeout)}"
    if isinstance(exc, TimeoutError):
        return f"no response within {_seconds(timeout)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection before responding"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return _payload_reason(exc)
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return "TLS certificate does not match the pinned fingerprint"
    if isinstance(exc, aiohttp.InvalidURL):
        return "the URL is not one aiohttp can request"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"unusable response: {_short(exc.message or str(exc))}"  # bytes that are not HTTP
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {_ssl_reason(exc)}"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, OSError):
        return _os_reason(exc)
    if isinstance(exc, aiohttp.ClientError):
        return _short(f"{type(exc).__name__}: {exc}")
    raise exc


def _payload_reason(exc: aiohttp.ClientPayloadError) -> str:
    """The body went wrong after the status came: cut off, or not in the encoding it claimed."""
    cause = exc.__cause__
    if isinstance(cause, ContentEncodingError):
        return "invalid compressed body: it is not the Content-Encoding the response names"
    if isinstance(cause, ContentLengthError | TransferEncodingError):
        return "response cut off: connection closed mid-response"
    return f"response body unreadable: {_short(str(exc), 120)}"


def _seconds(value: float) -> str:
    return f"{round(value, 3):g}s"  # a bound cut short by the deadline is no 0.0166622s


def _where(exc: aiohttp.ClientConnectorError) -> str:
    return f"{exc.host}:{exc.port}" if exc.port is not None else exc.host


def _os_reason(exc: OSError) -> str:
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return _short(exc.strerror or str(exc) or type(exc).__name__, 120)


def _ssl_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return _short(str(reason), 120)


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
