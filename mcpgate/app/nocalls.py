"""A run that will call no tool: said as a warning in every report, or, asked (``require-calls``), a failure.

With no ``flow.tools`` a run calls only the tools marked ``readOnlyHint`` (a load test must not
write by accident); a server that marks none would pass a smoke or load run without one tool
call having been measured. That must never read as a pass of the server's tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from mcpgate.protocol.records import ToolInfo

MAX_NAMED: Final = 12


def no_call_warning(configured: bool, calls: int, offered: Mapping[str, ToolInfo]) -> str | None:
    """The one-line warning when the run calls no tool, naming the tools not called and why; else None."""
    if configured or calls:
        return None
    if not offered:
        return "no tool is called: the server's tools/list offers none"
    names = list(offered)
    shown = ", ".join(names[:MAX_NAMED]) + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")
    return (
        f"no tool is called: none of the server's tools is marked readOnlyHint (not called, as they may write: "
        f"{shown}); name them in flow.tools to call them"
    )
