"""The server certificate's days to expiry, read with the standard library only.

One TLS connection (SNI = the URL's host), then the peer certificate's DER bytes from
``getpeercert(binary_form=True)``. The ssl module hands those over whether or not it
verified the chain (the parsed ``getpeercert()`` dict is empty without verification),
so ``--insecure`` still reports the days left. A small DER walker reads the three
fields the gate needs; nothing else of the certificate is interpreted:

    Certificate     ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    tbsCertificate  ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
                                   issuer Name, validity Validity, subject Name, ... }
    Validity        ::= SEQUENCE { notBefore Time, notAfter Time }
    Time            ::= UTCTime (YYMMDDHHMMSSZ) | GeneralizedTime (YYYYMMDDHHMMSSZ)
    Name            ::= SEQUENCE OF SET OF SEQUENCE { type OID, value string }

Failing to connect or to read the certificate is a value (``CertInfo.reason``), never an
exception: the smoke report shows it, and ``--min-cert-days`` fails on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from mcpgate.protocol.http import HttpSettings, classify_exception, seconds
from mcpgate.protocol.outcome import shorten
from mcpgate.protocol.wire.dial import Dialer
from mcpgate.protocol.wire.errors import WireError
from mcpgate.protocol.wire.proxy import ProxyRules
from mcpgate.support.tls import TlsSettings, tls_context

DAY: Final = 86400.0
CLOSE_WAIT: Final = 1.0  # seconds to let the TLS close finish; the certificate is already in hand


@dataclass(slots=True)
class CertInfo:
    """The certificate an https:// URL presents, or why it could not be read."""

    host: str
    port: int
    not_after: str | None = None  # ISO 8601, UTC ("2026-01-31T12:00:00Z")
    days_left: int | None = None  # whole days, rounded down; negative once expired
    subject: str = ""  # "CN=example.com, O=Example"
    issuer: str = ""
    verified: bool = False  # the chain and the host name were checked
    reason: str | None = None  # set when the certificate could not be read (then days_left is None)

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def where(self) -> str:
        return self.host if self.port == 443 else f"{self.host}:{self.port}"


async def cert_info(
    url: str,
    *,
    timeout: float,  # noqa: ASYNC109 - one bound for the connect and the handshake together
    tls: TlsSettings | None = None,
    proxies: ProxyRules | None = None,
    now: float | None = None,
) -> CertInfo | None:
    """Connect to an https:// URL's host and read its certificate; None for http://.

    ``timeout`` bounds the TCP connect and the TLS handshake together; ``tls`` is the run's own
    (its CA, its client certificate) and so are its ``proxies`` (a CONNECT tunnel when the run's
    requests go through one), so the check sees the server as the run does. ``now`` (epoch
    seconds) is for tests; the wall clock is the right one for a certificate.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    host, port = parts.hostname, parts.port or 443
    settings = tls or TlsSettings()
    info = CertInfo(host, port, verified=settings.verify)
    proxy = proxies.route("https", host, port) if proxies is not None else None
    try:
        if proxy is not None:
            der = await _tunnelled(host, port, settings, proxies, timeout)
        else:
            der = await _der(host, port, limit=timeout, tls=settings)
        not_after, subject, issuer = _fields(der)
    except _NotRead as exc:
        info.reason = str(exc)
        return info
    moment = time.time() if now is None else now
    info.not_after = not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    info.days_left = math.floor((not_after.timestamp() - moment) / DAY)
    info.subject, info.issuer = subject, issuer
    return info


class _NotRead(Exception):
    """Why the certificate could not be read, as the one line ``CertInfo.reason`` shows."""


async def _der(host: str, port: int, *, limit: float, tls: TlsSettings) -> bytes:
    """The certificate the server presents, as DER, within ``limit`` seconds; each way that fails is a ``_NotRead``."""
    try:
        context = tls_context(tls)
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(f for f in (tls.ca_file, tls.client_cert, tls.client_key) if f)
        raise _NotRead(f"cannot load the TLS files ({files}): {shorten(str(exc), 120)}") from None
    try:
        der = await _peer_certificate(host, port, context, limit)
    except TimeoutError:
        raise _NotRead(f"TLS connect timed out after {seconds(limit)}") from None
    except ssl.SSLCertVerificationError as exc:
        raise _NotRead(f"TLS certificate rejected: {shorten(str(exc.verify_message or exc.reason), 120)}") from None
    except socket.gaierror:
        raise _NotRead(f"DNS lookup failed for {host}") from None
    except (OSError, ValueError) as exc:
        settings = HttpSettings(timeout=limit, connect_timeout=limit)
        raise _NotRead(classify_exception(exc, settings).outcome.reason) from None
    if der is None:
        raise _NotRead("the server presented no certificate")
    return der


def _fields(der: bytes) -> tuple[datetime, str, str]:
    """``read_certificate``, its ValueError a ``_NotRead``."""
    try:
        return read_certificate(der)
    except ValueError as exc:
        raise _NotRead(f"the server's certificate could not be read: {exc}") from None


def cert_problem(cert: CertInfo | None, min_days: int | None) -> str | None:
    """Why the ``--min-cert-days`` gate fails, or None when it holds (or is not asked for)."""
    if min_days is None or cert is None:
        return None
    if cert.reason is not None or cert.days_left is None:
        return f"certificate for {cert.where} could not be read: {cert.reason}"
    if cert.days_left < 0:
        return f"certificate for {cert.where} expired on {cert.not_after} (minimum {days(min_days)} left)"
    if cert.days_left < min_days:
        return f"certificate for {cert.where} expires in {days(cert.days_left)} (minimum {min_days})"
    return None


def days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def cert_line(cert: CertInfo) -> str:
    """One line for people: where, when, how long, who issued it."""
    if cert.reason is not None:
        return f"certificate for {cert.where} not read: {cert.reason}"
    left = cert.days_left if cert.days_left is not None else 0
    when = f"expired on {cert.not_after}" if left < 0 else f"expires {cert.not_after} ({days(left)} left)"
    trust = "" if cert.verified else "; not verified (--insecure)"
    return f"certificate for {cert.where} {when}; {cert.subject or '(no subject)'}; issuer {cert.issuer}{trust}"


def cert_dict(cert: CertInfo) -> dict[str, Any]:
    return {
        "host": cert.host,
        "port": cert.port,
        "not_after": cert.not_after,
        "days_left": cert.days_left,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "verified": cert.verified,
        "reason": cert.reason,
    }


# -- the connection ----------------------------------------------------------------------


async def _tunnelled(host: str, port: int, tls: TlsSettings, proxies: ProxyRules | None, limit: float) -> bytes:
    """The certificate read through the run's proxy, with the wire client's own dialer."""
    dialer = Dialer(connect_timeout=limit, tls=tls, proxies=proxies)
    try:
        conn = await dialer.connect(
            ("https", host, port, proxies.route("https", host, port) if proxies else None), None
        )
    except (WireError, OSError, ValueError) as exc:
        raise _NotRead(
            classify_exception(exc, HttpSettings(timeout=limit, connect_timeout=limit)).outcome.reason
        ) from None
    try:
        ssl_object = conn.transport.get_extra_info("ssl_object") if conn.transport is not None else None
        der = ssl_object.getpeercert(binary_form=True) if isinstance(ssl_object, ssl.SSLObject) else None
    finally:
        conn.close()
    if der is None:
        raise _NotRead("the server presented no certificate")
    return der


async def _peer_certificate(host: str, port: int, context: ssl.SSLContext, limit: float) -> bytes | None:
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(limit):
            _, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=host, ssl_handshake_timeout=limit
            )
        ssl_object = writer.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        return ssl_object.getpeercert(binary_form=True)
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(min(limit, CLOSE_WAIT)):
                    await writer.wait_closed()


# -- DER, just enough ----------------------------------------------------------------------

_SEQUENCE: Final = 0x30
_SET: Final = 0x31
_OID: Final = 0x06
_UTC_TIME: Final = 0x17
_GENERALIZED_TIME: Final = 0x18
_VERSION: Final = 0xA0  # [0] EXPLICIT
_NAMES: Final = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
}
_TEXT: Final = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (in practice)
    0x16: "ascii",  # IA5String
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


def read_certificate(der: bytes) -> tuple[datetime, str, str]:
    """(notAfter, subject, issuer) of an X.509 certificate in DER; ValueError when malformed."""
    try:
        cert = _children(der, *_expect(der, 0, _SEQUENCE))
        tbs = _children(der, *_expect(der, cert[0][0], _SEQUENCE))
        fields = [f for f in tbs if der[f[0]] != _VERSION]
        if len(fields) < 5:
            raise ValueError("tbsCertificate is too short")
        issuer, validity, subject = fields[2], fields[3], fields[4]
        times = _children(der, *_expect(der, validity[0], _SEQUENCE))
        if len(times) != 2:
            raise ValueError("validity does not hold two times")
        return _time(der, times[1][0]), _name(der, subject[0]), _name(der, issuer[0])
    except IndexError:
        raise ValueError("truncated DER") from None


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the element at ``pos``."""
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers are not expected in these fields")
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, start, end


def _expect(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    found, start, end = _header(data, pos)
    if found != tag:
        raise ValueError(f"expected DER tag {tag:#04x}, found {found:#04x}")
    return start, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """(position, end) of each element inside a constructed value."""
    out: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        _, _, stop = _header(data, pos)
        if stop > end:
            raise ValueError("element runs past its parent")
        out.append((pos, stop))
        pos = stop
    return out


def _time(data: bytes, pos: int) -> datetime:
    tag, start, end = _header(data, pos)
    text = data[start:end].decode("ascii")
    if tag == _UTC_TIME and len(text) == 13 and text.endswith("Z"):
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"  # RFC 5280 4.1.2.5.1
    elif not (tag == _GENERALIZED_TIME and len(text) == 15 and text.endswith("Z")):
        raise ValueError(f"unsupported certificate time {text!r}")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def _name(data: bytes, pos: int) -> str:
    rdns: list[str] = []
    for rdn_pos, _ in _children(data, *_expect(data, pos, _SEQUENCE)):
        parts: list[str] = []
        for attr_pos, _ in _children(data, *_expect(data, rdn_pos, _SET)):
            pair = _children(data, *_expect(data, attr_pos, _SEQUENCE))
            if len(pair) != 2:
                raise ValueError("a name attribute is not a (type, value) pair")
            oid = _oid(data, pair[0][0])
            parts.append(f"{_NAMES.get(oid, oid)}={_text(data, pair[1][0])}")
        rdns.append("+".join(parts))
    return ", ".join(reversed(rdns))  # RFC 4514 order: most specific first, "CN=host, O=org"


def _oid(data: bytes, pos: int) -> str:
    start, end = _expect(data, pos, _OID)
    if start == end:
        raise ValueError("empty OID")
    first = data[start]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in data[start + 1 : end]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(str(a) for a in arcs)


def _text(data: bytes, pos: int) -> str:
    tag, start, end = _header(data, pos)
    raw = data[start:end]
    encoding = _TEXT.get(tag)
    if encoding is None:
        return "#" + raw.hex()  # RFC 4514's form for a value it cannot show as text
    return shorten(raw.decode(encoding, "replace"), 120)
