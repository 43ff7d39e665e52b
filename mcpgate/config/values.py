"""Option values as users type them, read once for every door.

Each reader turns the text of one option (a CLI flag's argument, an Action
input, a ``docker run -e`` variable) into its value, or raises ValueError with
a message that does not name the option: each door names it its own way
(``--max-regression``, ``max-regression``, ``INPUT_MAX-REGRESSION``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from mcpgate.config.thresholds import parse_cli_threshold
from mcpgate.support.durations import parse_duration
from mcpgate.support.errors import UsageError
from mcpgate.support.startat import parse_start_at

TRUE = ("true", "True", "TRUE")
FALSE = ("false", "False", "FALSE")


def duration(text: str) -> float:
    """``30s``, ``5m``, ``1h30m``, or seconds."""
    return parse_duration(text)


def integer(text: str) -> int:
    """A whole number; its range is the option's to check."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None


def fraction(text: str) -> float:
    """``20%``, ``0.2``, or ``20`` (a bare number above 1 is a percentage)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"expected a percentage like 20% or 0.2, got {text!r}") from None
    if value > 1 and not raw.endswith("%"):
        value /= 100
    if not 0 <= value <= 10:  # NaN fails this too
        raise ValueError(f"expected a percentage between 0% and 1000%, got {text!r}")
    return value


def drift_limit(text: str) -> float | None:
    """A percentage as ``fraction`` takes, or ``off`` to report drift without gating on it."""
    if text.strip().lower() == "off":
        return None
    try:
        return fraction(text)
    except ValueError as exc:
        raise ValueError(str(exc).replace(" or 0.2,", ", 0.2 or off,", 1)) from None


def level(text: str) -> float:
    """A breakpoint level: a number above 0 (iterations/s, or VUs)."""
    try:
        value = float(text.strip().removesuffix("/s"))
    except ValueError:
        raise ValueError(f"expected a number like 100, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"expected a number above 0, got {text!r}")
    return value


def boolean(text: str) -> bool:
    """``true`` or ``false``, as the Actions runner writes them."""
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def choice(values: Sequence[str]) -> Callable[[str], str]:
    def read(text: str) -> str:
        if text not in values:
            raise ValueError(f"expected one of {', '.join(values)}, got {text!r}")
        return text

    return read


def start_at(text: str) -> float:
    """An instant: ISO 8601 with a zone, or unix seconds; as unix time."""
    return parse_start_at(text, time.time())


def threshold_line(line: str) -> str:
    """``metric: expr[, expr]`` (a line of the Action's ``thresholds``) -> ``metric=expr,expr``."""
    depth, split = 0, -1
    for index, char in enumerate(line):
        depth += char == "{"
        depth -= char == "}"
        if char == ":" and depth == 0:
            split = index
            break
    if split < 0:
        raise ValueError("expected 'metric: expr[, expr]', e.g. http_req_failed: rate<0.01")
    metric, exprs = line[:split].strip(), [e.strip() for e in line[split + 1 :].split(",") if e.strip()]
    entry = f"{metric}={','.join(exprs)}"
    try:
        parse_cli_threshold(entry)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix(f"--threshold {entry!r}: ")) from None
    return entry


def json_object(text: str, field: str) -> dict[str, Any]:
    """A JSON object, e.g. tool arguments; anything else is the field's error."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(field, f"not valid JSON ({exc.args[0] if exc.args else exc})") from None
    if not isinstance(value, dict):
        raise UsageError(field, f"must be a JSON object, got {type(value).__name__}")
    return value
