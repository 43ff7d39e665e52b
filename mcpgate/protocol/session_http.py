"""One MCP session's view of the shared pool: its cookie jar, and the redirects it follows.

As the official SDK's client does, a 307 or 308 to the same origin (scheme, host and port) is
followed with the same method, body and headers, at most ``MAX_REDIRECTS`` hops; each hop is
counted. A redirect to another origin, and 301/302/303 (which would turn a POST into a GET), are
left to the transport to report. Cookies set on any response, a redirect's included, go into the
session's jar and come back on its later requests (cookies.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from urllib.parse import urljoin, urlsplit

from mcpgate.protocol.cookies import CookieJar, user_cookie
from mcpgate.protocol.outcome import Kind, fail, shorten
from mcpgate.protocol.wire.connection import Response
from mcpgate.protocol.wire.errors import WireError
from mcpgate.protocol.wire.pool import Pool, Request, RequestHeaders, SendArgs

MAX_REDIRECTS = 5
REDIRECT_BODY_BYTES = 64 * 1024  # a redirect's body is read (so its connection is reused) up to this
_FOLLOWED = (307, 308)


def _nothing() -> None:
    return None


class SessionHttp:
    """What the transports send through: ``post``/``get``/``delete`` as on ``Pool``, per session."""

    __slots__ = ("_headers", "_keep", "_on_redirect", "_pool", "_url", "_user_line", "jar")

    def __init__(
        self,
        pool: Pool,
        url: str,
        *,
        cookies: bool = True,
        headers: Mapping[str, str] | None = None,
        on_redirect: Callable[[], None] = _nothing,
    ) -> None:
        self._pool = pool
        self._url = url
        self._keep = cookies
        self._headers = headers
        self.jar: CookieJar | None = None  # made with the first Set-Cookie: most sessions never get one
        self._on_redirect = on_redirect
        self._user_line = b""

    def _open_jar(self) -> CookieJar:
        # A Cookie header of the user's own is joined with the jar's into one, as RFC 6265 asks.
        given = user_cookie(self._headers or {})
        self._user_line = f"{given[0]}: {given[1]}\r\n".encode("latin-1") if given else b""
        jar = self.jar = CookieJar(self._url, base=given[1] if given else None)
        return jar

    def post(self, url: str, *, data: bytes, headers: RequestHeaders = None, deadline: float | None = None) -> Request:
        return Request(self, ("POST", url, headers, data, deadline))

    def get(self, url: str, *, headers: RequestHeaders = None, deadline: float | None = None) -> Request:
        return Request(self, ("GET", url, headers, None, deadline))

    def delete(self, url: str, *, headers: RequestHeaders = None, deadline: float | None = None) -> Request:
        return Request(self, ("DELETE", url, headers, None, deadline))

    async def send(
        self, method: str, url: str, headers: RequestHeaders, body: bytes | None, deadline: float | None = None
    ) -> Response:
        # Written out, not a call to a helper: this runs for every request of the load.
        jar = self.jar
        sent = self._with_cookies(url, headers) if jar is not None and jar.count else headers
        response = await self._pool.send(method, url, sent, body, deadline)
        if response.headers.cookies is not None and self._keep:
            (jar or self._open_jar()).take(response.headers.cookies, url)
        if response.status in _FOLLOWED:
            return await self._follow(response, (method, url, headers, body, deadline))
        return response

    async def _follow(self, response: Response, args: SendArgs) -> Response:
        """Follow same-origin 307/308 hops; the first answer that is not one is the request's."""
        method, url, headers, body, deadline = args
        origin = _origin(url)
        hops = 0
        while response.status in _FOLLOWED:
            location = response.headers.get("location")
            if not location:
                return response
            try:
                target = urljoin(url, location.strip())
                elsewhere = _origin(target) != origin
            except ValueError:
                return response  # not a usable URL: reported as the redirect it is
            if elsewhere:
                return response  # another origin: reported as a redirect, never followed
            if hops == MAX_REDIRECTS:
                response.close()
                reason = f"too many redirects: {MAX_REDIRECTS} followed, the next to {shorten(target, 100)!r}"
                raise fail(Kind.HTTP_ERROR, reason, http_status=response.status)
            await _discard(response)
            hops += 1
            url = target
            self._on_redirect()
            response = await self._hop(method, url, headers, body, deadline)
        return response

    async def _hop(
        self, method: str, url: str, headers: RequestHeaders, body: bytes | None, deadline: float | None
    ) -> Response:
        """One request of a redirect chain, as ``send`` makes the first."""
        jar = self.jar
        sent = self._with_cookies(url, headers) if jar is not None and jar.count else headers
        response = await self._pool.send(method, url, sent, body, deadline)
        if response.headers.cookies is not None and self._keep:
            (jar or self._open_jar()).take(response.headers.cookies, url)
        return response

    def _with_cookies(self, url: str, headers: RequestHeaders) -> RequestHeaders:
        """The request's headers and its Cookie header: bytes appended, or a mapping merged."""
        assert self.jar is not None
        value, line = self.jar.header(url)
        if not value:
            return headers
        if isinstance(headers, bytes):
            return (headers.replace(self._user_line, b"", 1) if self._user_line else headers) + line
        merged = {k: v for k, v in headers.items() if k.lower() != "cookie"} if headers else {}
        merged["Cookie"] = value
        return merged


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme)


async def _discard(response: Response) -> None:
    """Read a redirect's short body so its connection is reused; close it if it is long or fails."""
    length = response.content_length
    if length is None or length > REDIRECT_BODY_BYTES:
        response.close()
        return
    with contextlib.suppress(WireError, OSError):
        await response.read()
        response.release()
        return
    response.close()
