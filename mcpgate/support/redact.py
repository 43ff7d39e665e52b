"""Keep secrets out of everything mcpgate prints or writes.

Secrets are the bearer token, the values of credential-like headers, and
credentials inside URLs. Every string that leaves the process (console, JSON,
summaries, error lines) can pass through a ``Redactor``; it also catches a
server echoing a token back in an error page.
"""

from __future__ import annotations

import base64
import re
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

MASK = "***"
_SENSITIVE = re.compile(r"auth|cookie|token|secret|passw|api[-_]?key|credential|signature|session", re.IGNORECASE)
MIN_SECRET = 4  # shorter values would mask ordinary words; they are not secrets worth the name


def sensitive_name(name: str) -> bool:
    return bool(_SENSITIVE.search(name))


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def add_headers(self, headers: Mapping[str, str]) -> None:
        for name, value in headers.items():
            if sensitive_name(name):
                self.add(value)
                scheme, _, credential = value.partition(" ")
                if credential and scheme.isalpha():
                    self.add(credential.strip())

    def add_url(self, url: str) -> None:
        parts = urlsplit(url)
        self.add(parts.password)
        if parts.password is not None:
            self.add(parts.netloc.rpartition("@")[0].partition(":")[2])  # as written, still percent-encoded
            # Sent as HTTP Basic auth: a server echoing that header must not reveal it either.
            basic = f"{unquote(parts.username or '')}:{unquote(parts.password)}".encode()
            self.add(base64.b64encode(basic).decode("ascii"))
        for raw in parts.query.split("&"):
            name, _, value = raw.partition("=")
            if sensitive_name(unquote_plus(name)):
                self.add(value)  # as written in the URL
                self.add(unquote_plus(value))  # as a server might echo it

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def url(self, url: str) -> str:
        """The URL fit to show: no password, no credential-like query values."""
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            host = netloc.rpartition("@")[2]
            netloc = f"{parts.username}:{MASK}@{host}" if parts.username else f"{MASK}@{host}"
        query = parts.query
        if query:
            pairs = [(k, MASK if sensitive_name(k) else v) for k, v in parse_qsl(query, keep_blank_values=True)]
            query = urlencode(pairs, safe="*")
        return self(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: MASK if sensitive_name(k) else self(v) for k, v in headers.items()}

    def json(self, value: Any) -> Any:
        """A JSON value with every string in it masked: a server's answer, shown back to the user."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return value


def redact_env_proxies(redact: Redactor) -> Redactor:
    """Teach ``redact`` the credentials inside every proxy URL of the environment."""
    for value in urllib.request.getproxies().values():
        redact.add_url(value if "://" in value else f"http://{value}")
    return redact
