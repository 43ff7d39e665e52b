"""A summary held to a size: GitHub drops a job summary larger than 1 MiB.

While the rendering is too large, the next least important part of the
context goes (the interval table, then error samples, drift rows, tools),
and a final line says what went; as a last resort the text is cut at a line,
with any open code block or ``<details>`` closed. A user's template is held
to the same size the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Trim = Callable[[dict[str, Any]], dict[str, Any] | None]
_SAMPLES_KEPT = 3
_REASON_CHARS = 200
_TOOLS_KEPT = 50


def _drop_interval_rows(ctx: dict[str, Any]) -> dict[str, Any] | None:
    timeline = ctx["timeline"]
    if timeline is None or not timeline["rows"]:
        return None
    return {**ctx, "timeline": {**timeline, "rows": []}}


def _cut_samples(ctx: dict[str, Any]) -> dict[str, Any] | None:
    errors = ctx["errors"]
    if not any(len(e["samples"]) > _SAMPLES_KEPT or _long_reason(e["samples"]) for e in errors):
        return None
    cut = []
    for e in errors:
        kept = e["samples"][:_SAMPLES_KEPT]
        dropped = sum(s["count"] for s in e["samples"][_SAMPLES_KEPT:])
        samples = [{**s, "reason": _short(s["reason"])} for s in kept]
        cut.append({**e, "samples": samples, "other": e["other"] + dropped})
    return {**ctx, "errors": cut}


def _short(text: str) -> str:
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def _long_reason(samples: list[dict[str, Any]]) -> bool:
    return any(len(s["reason"]) > _REASON_CHARS for s in samples)


def _drop_samples(ctx: dict[str, Any]) -> dict[str, Any] | None:
    if not any(e["samples"] for e in ctx["errors"]):
        return None
    return {
        **ctx,
        "errors": [
            {**e, "samples": [], "other": e["other"] + sum(s["count"] for s in e["samples"])} for e in ctx["errors"]
        ],
    }


def _cut_drift(ctx: dict[str, Any]) -> dict[str, Any] | None:
    report = ctx["drift"]
    if report is None or len(report["rows"]) <= _TOOLS_KEPT:
        return None
    rows = report["rows"]
    # The rows that drifted, then the largest changes; shown in their own order.
    ranked = sorted(range(len(rows)), key=lambda i: (not rows[i]["drifted"], -_change(rows[i]["change"])))
    keep = set(ranked[:_TOOLS_KEPT])
    kept = [row for i, row in enumerate(rows) if i in keep]
    return {**ctx, "drift": {**report, "rows": kept}, "drift_omitted": ctx["drift_omitted"] + len(rows) - len(kept)}


def _change(text: str) -> float:
    try:
        return abs(float(text.rstrip("%")))
    except ValueError:
        return math.inf if text == "new" else 0.0


def _cut_tools(ctx: dict[str, Any]) -> dict[str, Any] | None:
    tools = ctx["tools"]
    if len(tools) <= _TOOLS_KEPT:
        return None
    busiest = {id(row) for row in sorted(tools, key=lambda row: -row["count"])[:_TOOLS_KEPT]}
    kept = [row for row in tools if id(row) in busiest]
    return {**ctx, "tools": kept, "tools_omitted": ctx["tools_omitted"] + len(tools) - len(kept)}


# Least important first: the interval table (the sparklines tell the same story), then error samples, then tools.
_TRIMS: tuple[tuple[str, Trim], ...] = (
    ("the per-interval table", _drop_interval_rows),
    (f"error samples beyond {_SAMPLES_KEPT} per class and reasons beyond {_REASON_CHARS} characters", _cut_samples),
    ("all error samples", _drop_samples),
    (f"drift rows beyond the {_TOOLS_KEPT} largest changes", _cut_drift),
    (f"tools beyond the {_TOOLS_KEPT} busiest", _cut_tools),
)


def fit(render: Callable[[dict[str, Any]], str], ctx: dict[str, Any], max_bytes: int) -> str:
    """Render; while too large, drop the next least important part; as a last resort cut the text."""
    text = render(ctx).rstrip("\n") + "\n"
    if _size(text) <= max_bytes:
        return text
    dropped: list[str] = []
    for what, trim in _TRIMS:
        smaller = trim(ctx)
        if smaller is None:
            continue
        ctx = smaller
        dropped.append(what)
        text = render(ctx).rstrip("\n")
        if _size(text + _trim_note(dropped, max_bytes)) <= max_bytes:
            return text + _trim_note(dropped, max_bytes)
    dropped.append("everything past this point")
    note = _trim_note(dropped, max_bytes)
    return _cut_bytes(_cut(text, max_bytes - _size(note)) + note, max_bytes)


def _trim_note(dropped: list[str], max_bytes: int) -> str:
    """The final line, saying what was left out (appended to any template's output, the user's too)."""
    return (
        f"\n\n> ✂️ Trimmed to stay under {max_bytes:,} bytes (GitHub's job summary limit): "
        f"left out {'; '.join(dropped)}. The results file has everything.\n"
    )


_CLOSERS_RESERVE = 100  # room for closing an open code block and a few <details>


def _cut(text: str, budget: int) -> str:
    """The longest prefix of whole lines within ``budget`` bytes, with open blocks closed."""
    head = _cut_bytes(text, budget - _CLOSERS_RESERVE)
    head = head[: head.rfind("\n") + 1].rstrip("\n")
    if head.count("```") % 2:
        head += "\n```"
    for _ in range(min(head.count("<details>") - head.count("</details>"), 4)):
        head += "\n\n</details>"
    return head


def _cut_bytes(text: str, budget: int) -> str:
    return text.encode("utf-8")[: max(budget, 0)].decode("utf-8", "ignore")


def _size(text: str) -> int:
    return len(text.encode("utf-8"))
