"""The TLS context every client of ours uses: the system's roots, plus what the user adds.

One builder for the wire client (MCP traffic) and for aiohttp (monitor API, token
endpoints), so a private CA or a client certificate works the same for every request.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """How to verify servers and who we are to them."""

    verify: bool = True
    ca_file: str | None = None  # trusted as well as the system roots, never instead of them
    client_cert: str | None = None  # PEM certificate (chain) for mTLS; the key may be in it too
    client_key: str | None = None


def tls_context(settings: TlsSettings, *, alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    """A client context: default roots (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), plus ``ca_file``.

    ``ssl.create_default_context(cafile=...)`` would load that file *instead of* the
    system roots; loading it afterwards adds it. Raises OSError/ssl.SSLError for a file
    that is missing or not PEM, for the caller to name.
    """
    context = ssl.create_default_context()
    if settings.verify:
        if settings.ca_file is not None:
            context.load_verify_locations(cafile=settings.ca_file)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.client_cert is not None:
        context.load_cert_chain(settings.client_cert, settings.client_key)
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context
