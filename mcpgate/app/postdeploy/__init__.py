"""Post-deploy checks: a few real sessions (smoke), TLS expiry, and a monitor-status API.

    smoke.py    a handful of MCP sessions at a low rate, every step timed; the TLS gate
    tls.py      the server certificate's days to expiry, read with the standard library
    monitor.py  poll a status API (AliveMCP's, or any JSON endpoint) until it says "up"
    jsonpath.py where in its JSON document the status is
    verbs.py    the ``smoke`` and ``monitor`` subcommands

Each check returns a plain report; rendering (text, JSON, Markdown) is a pure function of
it and a ``Redactor``, so every door (CLI, action, job summary) says the same thing.

This module holds only the small helpers the renderers share; it imports none of its
submodules, so they can import it freely.
"""

from __future__ import annotations

MARK_OK = "✓"
MARK_FAIL = "✗"


def md_cell(text: str) -> str:
    """Text fit for one Markdown table cell: one line, no column breaks, no stray code spans."""
    flat = " ".join(text.split())
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
