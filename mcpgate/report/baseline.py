"""A comparison with a baseline run, shown: ``mcpgate compare``'s text and Markdown, the summaries' parts.

verdict/baseline.py decides what regressed; this only lays the deltas out,
each value in its measure's own units, so every format reads the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcpgate.results.schema import BaselineComparison, BaselineDelta
from mcpgate.verdict.baseline import Comparison, shown


def mark(delta: BaselineDelta) -> str:
    return "✗" if delta.regressed else "✓"


def change_text(delta: BaselineDelta) -> str:
    """``+12.5%``; ``new`` when the baseline measured 0."""
    change = delta.change
    return f"{change:+.1%}" if change is not None else "new"


def table_lines(deltas: Sequence[BaselineDelta]) -> list[str]:
    """One aligned line per delta: mark, metric and stat, before -> now, change."""
    width = max((len(f"{d.metric} {d.stat}") for d in deltas), default=10)
    lines = []
    for d in deltas:
        label = f"{d.metric} {d.stat}"
        lines.append(
            f"{mark(d)} {label:<{width}}  {shown(d, d.baseline):>9} -> {shown(d, d.current):>9}  {change_text(d):>8}"
        )
    return lines


def render_text(comparison: Comparison) -> str:
    """``mcpgate compare``'s text."""
    head = "no regression" if comparison.ok else f"{len(comparison.regressions)} regression(s)"
    lines = [
        f"compared with the baseline from {comparison.baseline_started}: {head} (limit {comparison.max_regression:.0%})"
    ]
    lines.extend("  " + row for row in table_lines(comparison.deltas))
    lines.extend(f"  note: {note}" for note in comparison.notes)
    return "\n".join(lines)


def render_markdown(comparison: Comparison) -> str:
    """``mcpgate compare --format md``."""
    head = "no regression" if comparison.ok else f"**{len(comparison.regressions)} regression(s)**"
    lines = [
        "### Compared with the baseline",
        "",
        f"Baseline from {comparison.baseline_started}: {head} (limit {comparison.max_regression:.0%}).",
        "",
        "| | metric | baseline | now | change |",
        "|---|---|---:|---:|---:|",
    ]
    for d in comparison.deltas:
        metric = d.metric.replace("|", "\\|")
        lines.append(
            f"| {mark(d)} | `{metric}` {d.stat} | {shown(d, d.baseline)} | {shown(d, d.current)} | {change_text(d)} |"
        )
    if comparison.notes:
        lines.append("")
        lines.extend(f"- {note}" for note in comparison.notes)
    return "\n".join(lines) + "\n"


def console_lines(section: BaselineComparison) -> list[str]:
    """The console summary's BASELINE part, from the comparison a results file keeps."""
    regressions = sum(1 for d in section.deltas if d.regressed)
    head = "no regression" if not regressions else f"{regressions} regression(s)"
    lines = [f"  BASELINE ({head}; limit {section.max_regression:.0%}, baseline from {section.baseline_started})"]
    lines.extend("    " + row for row in table_lines(section.deltas))
    lines.extend(f"    note: {note}" for note in section.notes)
    return lines


def baseline_context(section: BaselineComparison | None) -> dict[str, Any] | None:
    """The summary template's ``baseline``: each delta formatted in its metric's own units."""
    if section is None:
        return None
    rows = [
        {
            "mark": mark(d),
            "metric": d.metric,
            "stat": d.stat,
            "baseline": shown(d, d.baseline),
            "current": shown(d, d.current),
            "change": change_text(d),
            "regressed": d.regressed,
        }
        for d in section.deltas
    ]
    return {
        "ok": section.ok,
        "started": section.baseline_started,
        "limit": f"{section.max_regression:.0%}",
        "regressions": sum(1 for d in section.deltas if d.regressed),
        "deltas": rows,
        "notes": section.notes,
    }
