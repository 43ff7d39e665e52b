"""What can go wrong on the wire, by kind: one exception class for each thing
``http.classify_exception`` names, so no failure is told apart by its message."""

from __future__ import annotations


class WireError(Exception):
    """Anything that kept a request from getting a whole response."""


class ConnectError(WireError):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


class DnsError(ConnectError):
    pass


class TlsError(ConnectError):
    def __init__(self, host: str, port: int, reason: str, *, certificate: bool) -> None:
        super().__init__(host, port, reason)
        self.certificate = certificate


class ConnectTimeout(ConnectError, TimeoutError):
    pass


class ProxyError(ConnectError):
    """The proxy refused, failed or was not there: the origin was never asked."""

    def __init__(self, where: str, what: str, detail: str = "") -> None:
        WireError.__init__(self, f"proxy {where}: {what}" + (f" ({detail})" if detail else ""))
        self.host, self.port, self.reason = where, 0, what


class RequestTimeout(WireError, TimeoutError):
    """The deadline passed before the response was whole."""


class StreamIdle(WireError):
    """A held stream received no byte at all for its idle limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no bytes for {seconds:g}s")
        self.seconds = seconds


class ServerDisconnected(WireError):
    """The connection ended before any byte of a response."""


class BodyCutOff(WireError):
    """The connection ended after the headers, before the body was whole."""

    def __init__(self, reset: bool) -> None:
        super().__init__("connection reset mid-response" if reset else "connection closed mid-response")
        self.reset = reset


class InvalidResponse(WireError):
    """Bytes that are not HTTP/1.1."""


class HeaderLimit(InvalidResponse):
    """A response head larger, or with more fields, than the client holds."""


class BadEncoding(WireError):
    """A Content-Encoding the body does not actually have."""


class UnknownEncoding(BadEncoding):
    """A Content-Encoding the client did not offer: the body cannot be read, only named."""

    def __init__(self, coding: str) -> None:
        super().__init__(f"Content-Encoding {coding!r} was not offered")
        self.coding = coding
