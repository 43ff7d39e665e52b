"""The verbs over saved results: ``report``, ``compare`` and ``drift`` render a results file again.

Each takes a request and returns what to print and the exit code; the door
prints it. A results file is any later command's input, as vegeta's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mcpgate.app.checks import results_file
from mcpgate.report.baseline import render_markdown as baseline_markdown
from mcpgate.report.baseline import render_text as baseline_text
from mcpgate.report.console import render_summary
from mcpgate.report.drift import render_text as drift_text
from mcpgate.report.junit import render_junit
from mcpgate.report.markdown import render_drift, render_markdown
from mcpgate.support import exitcodes
from mcpgate.support.errors import UsageError
from mcpgate.verdict import baseline as baselines
from mcpgate.verdict import drift as drifts
from mcpgate.verdict.baseline import DEFAULT_MAX_REGRESSION
from mcpgate.verdict.drift import DEFAULT_MAX_DRIFT
from mcpgate.verdict.steady import steady_of


@dataclass(frozen=True)
class ReportRequest:
    results: Path
    format: str = "text"  # text, md, junit or json
    summary_template: Path | None = None


@dataclass(frozen=True)
class CompareRequest:
    baseline: Path
    current: Path
    max_regression: float = DEFAULT_MAX_REGRESSION
    format: str = "text"  # text, md or json


@dataclass(frozen=True)
class DriftRequest:
    results: Path
    max_drift: float | None = DEFAULT_MAX_DRIFT
    drift_window: float | None = None
    format: str = "text"  # text, md or json


@dataclass(frozen=True)
class Rendered:
    text: str  # what to print, ending in a newline
    exit_code: int


def _json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


def report(request: ReportRequest) -> Rendered:
    """A saved run rendered again, in any of the formats a run writes."""
    results = results_file(request.results, "", request.results)
    if request.format == "md":
        try:
            text = render_markdown(results, template=request.summary_template)
        except ValueError as exc:
            raise UsageError("summary-template", str(exc)) from None
    elif request.format == "junit":
        text = render_junit(results)
    elif request.format == "json":
        text = _json(results.model_dump(mode="json", by_alias=True))
    else:
        text = render_summary(results) + "\n"
    return Rendered(text, exitcodes.OK)


def compare(request: CompareRequest) -> Rendered:
    """Two saved runs compared; a regression beyond the limit is exit 99."""
    baseline = results_file(request.baseline, "", request.baseline)
    current = results_file(request.current, "", request.current)
    comparison = baselines.compare(baseline, current, request.max_regression)
    if request.format == "md":
        text = baseline_markdown(comparison)
    elif request.format == "json":
        text = _json(
            {
                "ok": comparison.ok,
                "max_regression": comparison.max_regression,
                "reason": comparison.reason(),
                "notes": list(comparison.notes),
                "deltas": [
                    {
                        "metric": d.metric,
                        "stat": d.stat,
                        "kind": d.kind,
                        "baseline": d.baseline,
                        "current": d.current,
                        "change": d.change,
                        "regressed": d.regressed,
                    }
                    for d in comparison.deltas
                ],
            }
        )
    else:
        text = baseline_text(comparison) + "\n"
    return Rendered(text, exitcodes.OK if comparison.ok else exitcodes.THRESHOLDS_FAILED)


def drift(request: DriftRequest) -> Rendered:
    """A saved run's drift judged again, with another window or limit."""
    if request.drift_window is not None and request.drift_window <= 0:
        raise UsageError("drift-window", "must be more than 0")
    saved = results_file(request.results, "", request.results)
    judged = drifts.analyze(
        saved.timeseries, steady_of(saved), max_drift=request.max_drift, window=request.drift_window
    )
    if request.format == "md":
        text = render_drift(saved.model_copy(update={"drift": judged}))
    elif request.format == "json":
        data = judged.model_dump(mode="json")
        data["worst_p95_change"] = drifts.worst_p95_change(judged)
        for row, shown in zip(judged.rows, data["rows"], strict=True):
            shown["change"] = row.change
        text = _json(data)
    else:
        lines = drift_text(judged)
        if judged.reason:
            lines.append(judged.reason)
        text = "\n".join(lines) + "\n"
    return Rendered(text, exitcodes.OK if judged.ok else exitcodes.THRESHOLDS_FAILED)
