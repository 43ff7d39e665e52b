"""One MCP session's cookies: what a load balancer sets to keep the session on one replica.

HAProxy (``cookie SRV insert``), nginx (``sticky cookie``) and an AWS ALB (``AWSALB``) pin a
session to the replica that holds it with a cookie; a client that drops it lands on another
replica, which answers 404 "Session not found". The official SDK's client keeps one HTTP client,
and so one cookie jar, per session; so does this jar. It belongs to the session's origin
(host-only, whatever Domain says); it keeps Path, Max-Age and Expires (a past one deletes) and
Secure (sent over https only); HttpOnly and SameSite mean nothing to a client without scripts.
Parsing is the standard library's (``http.cookies``), not our own.

A session's requests send the jar as pre-encoded bytes, encoded again only when it changes:
a response without ``Set-Cookie`` costs one attribute test.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz
from http.cookies import CookieError, Morsel, SimpleCookie
from urllib.parse import urlsplit

from mcpgate.support.redact import Redactor

MAX_COOKIES = 50  # per session: more is a server gone wrong, not a load balancer
MAX_COOKIE_BYTES = 4096  # name and value, as browsers bound them
_INF = float("inf")


@dataclass(frozen=True, slots=True)
class _Cookie:
    pair: str  # "name=value", the value as the server coded it
    path: str
    secure: bool
    expires: float | None  # time.time() seconds; None: for the session's life


class CookieJar:
    """The cookies of one session's origin, and the ``Cookie`` value each request path gets."""

    __slots__ = ("_base", "_cookies", "_host", "_lines", "_masks", "_next_expiry", "count")

    def __init__(self, url: str, *, base: str | None = None) -> None:
        self._host = (urlsplit(url).hostname or "").lower()
        self._base = f"{base}; " if base else ""  # the user's own Cookie header, sent first
        self._cookies: dict[tuple[str, str], _Cookie] = {}  # (name, path)
        self._lines: dict[str, tuple[str, bytes]] = {}  # request URL -> its Cookie header, until the jar changes
        self._next_expiry = _INF
        self.count = 0  # cookies held: a plain attribute, read before every request
        self._masks: Redactor | None = None  # every value this session was given, once it was given one

    def take(self, set_cookies: Iterable[str], url: str) -> None:
        """Store what a response to ``url`` set (its ``Set-Cookie`` fields, each one cookie)."""
        now = time.time()
        for field in set_cookies:
            parsed = _parse(field)
            if parsed is not None:
                self._store(parsed[0], parsed[1], url, now)
        self._changed()

    def _changed(self) -> None:
        self._lines.clear()
        self.count = len(self._cookies)
        self._next_expiry = min((c.expires for c in self._cookies.values() if c.expires is not None), default=_INF)

    def mask(self, text: str) -> str:
        """``text`` without the values this jar holds or held: a server may echo them in an error."""
        return self._masks(text) if self._masks is not None else text

    def _store(self, name: str, morsel: Morsel[str], url: str, now: float) -> None:
        domain = morsel["domain"].lstrip(".").lower()
        if domain and self._host != domain and not self._host.endswith("." + domain):
            return  # a cookie for another site: refused, as every client does
        path = morsel["path"] if morsel["path"].startswith("/") else _default_path(url)
        expires = _expiry(morsel, now)
        key = (name, path)
        if expires is not None and expires <= now:
            self._cookies.pop(key, None)  # the server deletes it
            return
        pair = f"{name}={morsel.coded_value}"
        if len(pair) > MAX_COOKIE_BYTES or (key not in self._cookies and len(self._cookies) >= MAX_COOKIES):
            return
        self._cookies[key] = _Cookie(pair, path, bool(morsel["secure"]), expires)
        masks = self._masks = self._masks or Redactor()
        masks.add(morsel.value)
        masks.add(morsel.coded_value)

    def header(self, url: str) -> tuple[str, bytes]:
        """The ``Cookie`` value for a request to ``url``, and its header line encoded ("", b"": none
        from the jar); the user's own cookie goes first. Cached until the jar changes."""
        if self._next_expiry != _INF and self._next_expiry <= time.time():
            self._expire()
        header = self._lines.get(url)
        if header is None:
            parts = urlsplit(url)
            https = parts.scheme == "https"
            path = parts.path or "/"
            chosen = [c for c in self._cookies.values() if (https or not c.secure) and _path_match(path, c.path)]
            chosen.sort(key=lambda c: -len(c.path))  # longer paths first, as RFC 6265 asks
            value = self._base + "; ".join(c.pair for c in chosen) if chosen else ""
            header = self._lines[url] = (value, f"Cookie: {value}\r\n".encode("latin-1") if value else b"")
        return header

    def _expire(self) -> None:
        now = time.time()
        self._cookies = {k: c for k, c in self._cookies.items() if c.expires is None or c.expires > now}
        self._changed()


def user_cookie(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The user's own Cookie header (name as written, value), if the headers hold one."""
    return next(((k, v) for k, v in headers.items() if k.lower() == "cookie"), None)


def _parse(field: str) -> tuple[str, Morsel[str]] | None:
    """A ``Set-Cookie`` field's cookie (the first name=value and its attributes), or None if unusable."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(field)
    except CookieError:
        return None
    return next(iter(jar.items()), None)


def _expiry(morsel: Morsel[str], now: float) -> float | None:
    """When the cookie ends: Max-Age wins over Expires; an unreadable one is ignored."""
    max_age = morsel["max-age"]
    if max_age:
        try:
            return now + int(max_age)
        except ValueError:
            pass
    parsed = parsedate_tz(morsel["expires"]) if morsel["expires"] else None
    return float(mktime_tz(parsed)) if parsed is not None else None


def _default_path(url: str) -> str:
    """RFC 6265 5.1.4: the request path up to its last "/"."""
    path = urlsplit(url).path
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


def _path_match(request: str, cookie: str) -> bool:
    if request == cookie:
        return True
    return request.startswith(cookie) and (cookie.endswith("/") or request[len(cookie)] == "/")
