"""Checks on the target a user names: its URL and its extra headers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mcpgate.support.errors import UsageError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_url(url: str, field: str) -> None:
    if not url.isprintable() or any(char.isspace() for char in url):  # urlsplit would drop a newline
        raise UsageError(field, "a URL has no spaces, line breaks or control characters")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise UsageError(field, "expected an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000/mcp")


def parse_header(raw: str, field: str) -> tuple[str, str]:
    """``Name: value`` -> (name, value); the value is never echoed, it may be a secret."""
    name, sep, value = raw.partition(":")
    name = name.strip()
    if not sep or not _TOKEN.fullmatch(name):
        shown = name if _TOKEN.fullmatch(name) else "(not a header name)"
        raise UsageError(field, f"expected 'Name: value', got a line starting {shown!r}")
    value = value.strip()
    if any(c in value for c in "\r\n\0"):
        raise UsageError(field, f"value of {name} holds a line break")
    return name, value
