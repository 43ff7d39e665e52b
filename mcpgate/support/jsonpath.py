"""A small JSON path: where in a document a value is (a monitor's status, a step's capture).

Dotted, list indexes allowed ("status", "data.status", "monitors.0.status"), jq's spelling of
the same (".monitors[0].status"), and JSONPath's: ``$``, ``.key``, ``['key']``, ``[n]``,
``[-1]`` (from the end), ``[*]`` (the first item the rest of the path matches). No filters, no
recursive descent: enough for status APIs and tool results, no query language.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from mcpgate.support.jsonvalues import kind


class _Any:
    """``[*]``: every item, the first that matches the rest of the path wins."""

    def __repr__(self) -> str:
        return "*"


ANY: Final = _Any()
Part = str | int | _Any

_TOKEN: Final = re.compile(r"""\[\s*(?:(-?\d+)|\*|'([^']*)'|"([^"]*)")\s*\]|\.?([^.\[\]]+)""")
_BAD: Final = "expected a dotted path like status, data.status, monitors.0.status or $.items[0].id, got {!r}"


def parse_path(path: str) -> tuple[Part, ...]:
    """ "data.status", "monitors.0.status", ".monitors[0].status", "$.a['b c'][-1][*].id"; "", "." or "$"
    is the whole document."""
    text = path.strip().removeprefix("$")
    if text in ("", "."):
        return ()
    parts: list[Part] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or (match.group(4) is not None and at > 0 and text[at] != "."):
            raise ValueError(_BAD.format(path))
        index, single, double, name = match.groups()
        if index is not None:
            parts.append(int(index))
        elif single is not None or double is not None:
            parts.append(single if single is not None else double or "")
        elif name is not None:
            if not name.strip():
                raise ValueError(_BAD.format(path))
            parts.append(ANY if name == "*" else name)
        else:
            parts.append(ANY)
        at = match.end()
    if text.endswith(".") or ".." in text:
        raise ValueError(_BAD.format(path))
    return tuple(parts)


def resolve(document: Any, keys: tuple[Part, ...]) -> Any:
    """The value at ``keys``; LookupError with a one-line message saying where the path broke."""
    here = document
    for depth, key in enumerate(keys):
        where = _show(keys[:depth])
        if key is ANY:
            return _first(here, keys, depth, where)
        if isinstance(here, dict):
            if not isinstance(key, str) or key not in here:
                has = ", ".join(_short(str(k)) for k in list(here)[:8]) or "nothing"
                raise LookupError(f"no {str(key)!r} in the object at {where} (it has: {has})")
            here = here[key]
        elif isinstance(here, list):
            index = _index(key, where)
            if not -len(here) <= index < len(here):
                raise LookupError(f"{where} has {len(here)} item(s), no index {key}")
            here = here[index]
        else:
            raise LookupError(f"{where} is {kind(here)}, it has no {str(key)!r}")
    return here


def _index(key: Part, where: str) -> int:
    if isinstance(key, int):
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    raise LookupError(f"{where} is an array; {str(key)!r} is not an index")


def _first(here: Any, keys: tuple[Part, ...], depth: int, where: str) -> Any:
    """``[*]`` at ``depth``: the first item of ``here`` the rest of the path finds something in."""
    items = list(here.values()) if isinstance(here, dict) else here if isinstance(here, list) else None
    if items is None:
        raise LookupError(f"{where} is {kind(here)}, it has no items")
    rest = keys[depth + 1 :]
    for item in items:
        try:
            return resolve(item, rest)
        except LookupError:
            continue
    raise LookupError(f"no item of {where} has {_show(rest) if rest else 'anything'}")


def _short(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _show(parts: tuple[Part, ...]) -> str:
    return ".".join(str(part) for part in parts) or "the top level"


def scalar_text(value: Any) -> str:
    """A string as itself; true/false/null and numbers as JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value)
