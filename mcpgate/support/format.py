"""Number formats shared by every report, so the console and files agree."""

from __future__ import annotations

import math


def ms(value: float | None) -> str:
    """Milliseconds the way people read them: 0.84ms, 12.3ms, 1.24s, 2m3s."""
    if value is None or not math.isfinite(value):
        return "-"
    if value < 1:
        return f"{value:.2f}ms"
    if value < 100:
        return f"{value:.1f}ms"
    if value < 1000:
        return f"{value:.0f}ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s"


def pct(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    if fraction == 0:
        return "0%"
    return f"{fraction * 100:.2f}%" if fraction < 0.9995 else f"{fraction * 100:.1f}%"


def count(value: float) -> str:
    return f"{round(value):,}"


def size(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def observed(metric_type: str, aggregation: str, value: float | None) -> str:
    """A threshold's measured value in the metric's own terms."""
    if value is None:
        return "no data"
    if metric_type == "trend" and aggregation != "count":
        return f"{aggregation}={ms(value)}"
    if metric_type == "rate":
        return f"{aggregation}={pct(value)}"
    if aggregation == "rate":
        return f"rate={value:.2f}/s"
    return f"{aggregation}={value:g}"
