"""The monitor's JSON path: where in a status document the status is.

Dotted, list indexes allowed ("status", "data.status", "monitors.0.status"), and jq's
spelling of the same (".monitors[0].status"): enough for status APIs, no query language.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from mcpgate.protocol.outcome import shorten
from mcpgate.support.jsonvalues import kind

_INDEX: Final = re.compile(r"\[(\d+)\]")


def parse_path(path: str) -> tuple[str, ...]:
    """ "data.status", "monitors.0.status", jq's ".monitors[0].status"; "" or "." is the whole document."""
    text = _INDEX.sub(r".\1", path.strip())
    text = text.removeprefix("$").removeprefix(".")
    if not text:
        return ()
    parts = tuple(text.split("."))
    if any(not part.strip() for part in parts):
        raise ValueError(f"expected a dotted path like status, data.status or monitors.0.status, got {path!r}")
    return parts


def resolve(document: Any, keys: tuple[str, ...]) -> Any:
    """The value at ``keys``; LookupError with a one-line message saying where the path broke."""
    here = document
    for depth, key in enumerate(keys):
        where = ".".join(keys[:depth]) or "the top level"
        if isinstance(here, dict):
            if key not in here:
                has = ", ".join(shorten(str(k), 40) for k in list(here)[:8]) or "nothing"
                raise LookupError(f"no {key!r} in the object at {where} (it has: {has})")
            here = here[key]
        elif isinstance(here, list):
            if not key.isdigit():
                raise LookupError(f"{where} is an array; {key!r} is not an index")
            if int(key) >= len(here):
                raise LookupError(f"{where} has {len(here)} item(s), no index {key}")
            here = here[int(key)]
        else:
            raise LookupError(f"{where} is {kind(here)}, it has no {key!r}")
    return here


def scalar_text(value: Any) -> str:
    """A string as itself; true/false/null and numbers as JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value)
