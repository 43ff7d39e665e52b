"""Durations as users write them: ``500ms``, ``30s``, ``2m``, ``1h30m``, or bare seconds."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | float | int) -> float:
    """Seconds; raises ValueError with a message fit to show the user."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like 500ms, 30s, 2m or 1h30m, got {text!r}")
    if isinstance(text, int | float):
        try:
            seconds = float(text)
        except OverflowError:  # an int with hundreds of digits
            seconds = math.inf
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"a duration must be a finite number of seconds >= 0, got {_short(text)}")
        return seconds
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return parse_duration(seconds)
    total = 0.0
    pos = 0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise ValueError(f"expected a duration like 500ms, 30s, 2m or 1h30m, got {text!r}")
    if not math.isfinite(total):  # "999...9h": each part parses, the sum does not fit a float
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {text!r}")
    return total


def _short(value: float) -> str:
    """A number as an error may repeat it: 400 digits are not worth printing."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def format_duration(seconds: float) -> str:
    """The shortest exact-enough form: 250ms, 30s, 2m, 1h30m."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9:
        return f"{seconds:g}s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else ""]
    return "".join(parts) or "0s"
