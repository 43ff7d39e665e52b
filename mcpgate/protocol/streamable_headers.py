"""The headers of Streamable HTTP requests, encoded before the requests are sent.

What the user and the transport fix is encoded once per run (``fixed_headers``), what a
session adds (its id, its version) once per change (``session_headers``), so a request
writes bytes as they are and joins at most a call's own ``Mcp-Param-*`` lines to them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from mcpgate.protocol.wire.pool import header_block

ACCEPT_BOTH = "application/json, text/event-stream"
SESSION_HEADER = "Mcp-Session-Id"
# Sent after initialize. It exists from 2025-06-18 on; sending it for older versions is
# harmless and what the official clients do.
VERSION_HEADER = "MCP-Protocol-Version"


@dataclass(frozen=True, slots=True)
class FixedHeaders:
    """What every request of a run carries, encoded once for all its sessions."""

    headers: dict[str, str]
    names: frozenset[str]  # lower-case
    post: bytes  # header lines of a POST
    bare: bytes  # the same without Content-Type (DELETE)
    overrides_session: bool  # the user's headers set the session or version header themselves


@functools.lru_cache(maxsize=16)
def fixed_headers(url: str, user: tuple[tuple[str, str], ...]) -> FixedHeaders:
    headers = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, **dict(user)}
    names = frozenset(name.lower() for name in headers)
    bare = {k: v for k, v in headers.items() if k != "Content-Type"}
    return FixedHeaders(
        headers,
        names,
        header_block(headers, url),
        header_block(bare, url),
        bool(names & {SESSION_HEADER.lower(), VERSION_HEADER.lower()}),
    )


def session_headers(
    fixed: FixedHeaders, session_id: str | None, version: str | None
) -> tuple[dict[str, str], bytes | None, bytes | None]:
    """A session's headers as a mapping, and encoded for a POST and for a DELETE (None: the
    user's headers name the session's own, so the pool must merge them by name)."""
    headers = dict(fixed.headers)
    lines = b""
    if session_id is not None:
        headers[SESSION_HEADER] = session_id
        lines += f"{SESSION_HEADER}: {session_id}\r\n".encode("latin-1")
    if version is not None:
        headers[VERSION_HEADER] = version
        lines += f"{VERSION_HEADER}: {version}\r\n".encode("latin-1")
    if fixed.overrides_session:
        return headers, None, None
    return headers, fixed.post + lines, fixed.bare + lines
