"""Soak drift, shown: the console's DRIFT table, its heading, and the summary template's ``drift``.

verdict/drift.py judges the two windows and words a row's values (they are in
the run's reason too); this lays the rows out, with marks that tell a row
that held from one that was only measured or not judged at all.
"""

from __future__ import annotations

from typing import Any

from mcpgate.results.schema import Drift, DriftRow, DriftWindow, SteadyLoad
from mcpgate.support.durations import format_duration
from mcpgate.verdict.drift import change_text, label, shown


def mark(row: DriftRow, gated: bool) -> str:
    """✗ drifted, ✓ held, · measured but not gated (--max-drift off), - not judged."""
    if not row.judged:
        return "-"
    if row.drifted:
        return "✗"
    return "✓" if gated else "·"


def verdict(report: Drift) -> str:
    """A few words for a heading: "no drift", "2 drifted", "reported only", "not judged"."""
    if not report.judged:
        return "not judged"
    if report.max_drift is None:
        return "reported only"
    drifted_rows = sum(1 for row in report.rows if row.drifted)
    return f"{drifted_rows} drifted" if drifted_rows else "no drift"


def span_text(span: DriftWindow | SteadyLoad | None) -> str:
    """``2m–12m``: when a window or the steady load was, in seconds since the run started."""
    if span is None:
        return ""
    return f"{format_duration(round(span.start, 1))}–{format_duration(round(span.end, 1))}"


def heading(report: Drift) -> str:
    """``first 4s (0s–4s) vs last 4s (8s–12s) of steady load (rate at 12 iterations/s, 0s–12s); limit +20%``."""
    steady = report.steady
    limit = f"limit +{report.max_drift:.0%}" if report.max_drift is not None else "reported only (--max-drift off)"
    if steady is None or report.window_s is None:
        return limit
    window = format_duration(report.window_s)
    first = f" ({span_text(report.first)})" if report.first is not None else ""
    last = f" ({span_text(report.last)})" if report.last is not None else ""
    where = f"{steady.load}, {span_text(steady)}"
    return f"first {window}{first} vs last {window}{last} of steady load ({where}); {limit}"


def render_text(report: Drift, indent: str = "") -> list[str]:
    """The console's drift table (or one line saying why drift was not judged)."""
    if not report.judged:
        return [f"{indent}DRIFT not judged: {report.note}"]
    lines = [f"{indent}DRIFT ({verdict(report)}): {heading(report)}"]
    width = max((len(label(r)) for r in report.rows), default=10)
    for r in report.rows:
        values = f"{shown(r, r.first):>9} -> {shown(r, r.last):>9}  {change_text(r):>8}"
        text = f"{mark(r, report.max_drift is not None)} {label(r):<{width}}  {values}"
        if not r.judged:
            text += f"  not judged: {r.note}"
        lines.append(f"{indent}  {text.rstrip()}")
    return lines


def drift_context(report: Drift | None) -> dict[str, Any] | None:
    """The summary template's ``drift``: latencies in ms, rates in percent."""
    if report is None:
        return None
    gated = report.max_drift is not None
    rows = [
        {
            "mark": mark(r, gated),
            "metric": r.metric,
            "stat": r.stat,
            "first": shown(r, r.first),
            "last": shown(r, r.last),
            "change": change_text(r),
            "judged": r.judged,
            "drifted": r.drifted,
            "note": r.note,
        }
        for r in report.rows
    ]
    return {
        "verdict": verdict(report),
        "judged": report.judged,
        "ok": report.ok,
        "note": report.note,
        "reason": report.reason,
        "heading": heading(report),
        "limit": f"{report.max_drift:.0%}" if report.max_drift is not None else None,
        "window": format_duration(report.window_s) if report.window_s is not None else "",
        "load": report.steady.load if report.steady is not None else "",
        "span": span_text(report.steady),
        "first_span": span_text(report.first),
        "last_span": span_text(report.last),
        "drifted": sum(1 for r in report.rows if r.drifted),
        "rows": rows,
    }
