"""The thresholds' verdicts, shown: each measured value in its metric's own units."""

from __future__ import annotations

from typing import Any

from mcpgate.metrics.catalog import BUILTIN
from mcpgate.metrics.keys import parse_metric_key
from mcpgate.report.breakpoint import judged_at
from mcpgate.results.schema import Results, ThresholdResult
from mcpgate.support.format import observed


def measured(results: Results, threshold: ThresholdResult) -> str:
    """A threshold's measured value in its metric's units ("p(95)=1.81s", "rate=0.20%", "no data")."""
    entry = results.metrics.get(threshold.metric)
    if entry is not None:
        kind = entry.type.value
    else:
        try:
            name = parse_metric_key(threshold.metric).name
        except ValueError:
            name = threshold.metric
        info = BUILTIN.get(name)
        kind = info.type.value if info is not None else ""
    return observed(kind, threshold.aggregation, threshold.value)


def console_lines(results: Results) -> list[str]:
    """The console summary's THRESHOLDS part (none without thresholds)."""
    if not results.thresholds:
        return []
    failed = sum(1 for t in results.thresholds if not t.ok)
    head = "all passed" if not failed else f"{failed} of {len(results.thresholds)} failed"
    lines = [f"  THRESHOLDS ({head}{judged_at(results.breakpoint)})"]
    width = max(len(t.metric) for t in results.thresholds)
    lines.extend("    " + _line(t, width) for t in results.thresholds)
    return lines


def _line(t: ThresholdResult, width: int) -> str:
    mark = "✓" if t.ok else "✗"
    key = parse_metric_key(t.metric)
    info = BUILTIN.get(key.name)
    shown = observed(info.type.value if info else "", t.aggregation, t.value)
    extra = " (stopped the run)" if t.aborted_run else ""
    return f"{mark} {t.metric:<{width}}  {t.expression:<16} {shown}{extra}"


def thresholds_context(results: Results) -> list[dict[str, Any]]:
    """The summary template's ``thresholds``."""
    return [
        {
            "ok": t.ok,
            "mark": "✓" if t.ok else "✗",
            "metric": t.metric,
            "expression": t.expression,
            "aggregation": t.aggregation,
            "value": t.value,
            "observed": measured(results, t),
            "abort_on_fail": t.abort_on_fail,
            "aborted_run": t.aborted_run,
        }
        for t in results.thresholds
    ]
