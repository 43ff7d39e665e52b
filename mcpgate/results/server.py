"""What the server said of itself, as the reports show it: its capabilities in one line, its
instructions shortened, and the capabilities it offered that the run never exercised.

A gate that passes while the server's resources or prompts were never touched has measured
only part of the server; naming what went unexercised says so without reading the config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from mcpgate.results.schema import SeriesEntry

MAX_INSTRUCTIONS: Final = 160  # characters of the server's instructions a summary shows
MAX_CAPABILITIES: Final = 300

# Each capability, and the methods whose sending exercises it (any one of them).
_EXERCISED_BY: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("tools", ("tools/call",)),
    ("resources", ("resources/read", "resources/list", "resources/templates/list")),
    ("prompts", ("prompts/get", "prompts/list")),
    ("completions", ("completion/complete",)),
    ("logging", ("logging/setLevel",)),
)
_SUBSCRIBE: Final = "resources/subscribe"
TASK_METRIC: Final = "mcp_task_duration"  # a task-augmented call's time to its result
_TASKS: Final = "tasks"  # not a method: the task metric having samples says tasks were used


def capability_line(capabilities: Mapping[str, Any] | None) -> str:
    """``tools (listChanged), resources (subscribe, listChanged), logging``: one line, however many."""
    if not capabilities:
        return ""
    parts = []
    for name, value in capabilities.items():
        flags = [k for k, v in value.items() if v is True or isinstance(v, dict)] if isinstance(value, dict) else []
        parts.append(f"{name} ({', '.join(flags)})" if flags else str(name))
    return shorten(", ".join(parts), MAX_CAPABILITIES)


def shorten(text: str | None, limit: int = MAX_INSTRUCTIONS) -> str:
    """One line of at most ``limit`` characters: whitespace runs folded, the rest cut with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def exercised(series: Iterable[SeriesEntry]) -> set[str]:
    """The methods the run sent (any series tagged with a method), and ``tasks`` when a task was measured."""
    found: set[str] = set()
    for entry in series:
        method = entry.tags.get("method")
        if method:
            found.add(method)
        if entry.metric == TASK_METRIC and entry.values.get("count", 0) > 0:
            found.add(_TASKS)
    return found


def unexercised(capabilities: Mapping[str, Any] | None, sent: set[str]) -> list[str]:
    """The advertised capabilities no method the run sent exercised, in the server's own order."""
    if not capabilities:
        return []
    users = dict(_EXERCISED_BY)
    missed: list[str] = []
    for name, value in capabilities.items():
        if name == _TASKS:
            if _TASKS not in sent:
                missed.append(name)
            continue
        if name not in users:
            continue  # experimental and vendor capabilities: nothing says what exercises them
        subscribe = name == "resources" and isinstance(value, dict) and bool(value.get("subscribe"))
        subscribe = subscribe and _SUBSCRIBE not in sent
        if not sent.intersection(users[name]):
            missed.append(f"{name} (subscribe)" if subscribe else name)
        elif subscribe:
            missed.append("resources subscribe")
    return missed


def unexercised_line(missed: list[str]) -> str:
    """``resources (subscribe), prompts offered but not exercised``, or "" when nothing was missed."""
    return f"{', '.join(missed)} offered but not exercised" if missed else ""
