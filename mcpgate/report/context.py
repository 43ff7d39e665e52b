"""What a summary template is given: ``Results`` turned into plain values, formatted where a reader needs it.

The variables are documented for template authors in ``mcpgate/report/markdown.py``;
the built-in templates and a user's ``--summary-template`` get the same ones.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mcpgate.report.baseline import baseline_context
from mcpgate.report.breakpoint import breakpoint_context
from mcpgate.report.drift import drift_context
from mcpgate.report.status import ICONS, status_label
from mcpgate.report.streams import stream_summary
from mcpgate.report.thresholds import thresholds_context
from mcpgate.report.timeline import timeline_context
from mcpgate.results.schema import Latency, Results
from mcpgate.results.server import capability_line, shorten, unexercised_line
from mcpgate.support.format import count, pct, size

MAX_TABLE_ROWS = 30
MAX_SPARK_CHARS = 60


def summary_context(results: Results) -> dict[str, Any]:
    """Everything a summary template may use (documented in ``mcpgate.report.markdown``)."""
    return {
        "verdict": _verdict(results),
        "thresholds": thresholds_context(results),
        "thresholds_failed": sum(1 for t in results.thresholds if not t.ok),
        "phases": [_latency(row) for row in results.phases],
        "tools": [_latency(row) for row in results.tools],
        "tools_omitted": 0,
        "errors": _errors(results),
        "error_total": sum(e.count for e in results.errors),
        **_run(results),
        "totals": [{"name": name, "value": value} for name, value in _totals(results)],
        "timeline": timeline_context(results.timeseries, max_rows=MAX_TABLE_ROWS, max_chars=MAX_SPARK_CHARS),
        "streams": _streams(results),
        "baseline": baseline_context(results.baseline),
        "drift": drift_context(results.drift),
        "drift_omitted": 0,
        "breakpoint": breakpoint_context(results.breakpoint, max_rows=MAX_TABLE_ROWS),
        "results": results,
    }


def _verdict(results: Results) -> dict[str, Any]:
    run = results.run
    return {
        "status": run.status,
        "passed": results.passed,
        "label": status_label(results),
        "icon": ICONS.get(run.status, ""),
        "exit_code": run.exit_code,
        "reason": _why(results),
    }


def _why(results: Results) -> str:
    run = results.run
    if run.reason:
        return " ".join(run.reason.split())
    if run.status == "passed":
        n = len(results.thresholds)
        return f"all {n} thresholds passed" if n else "the run completed; no thresholds were set"
    return run.status.replace("_", " ")


def _errors(results: Results) -> list[dict[str, Any]]:
    return [
        {"kind": e.kind, "count": e.count, "other": e.other, "samples": [s.model_dump() for s in e.samples]}
        for e in results.errors
    ]


def _run(results: Results) -> dict[str, Any]:
    """``run``, ``target``, ``server``, ``scenarios`` and ``vus_max``: what ran, against what."""
    server = results.target.server_info or {}
    vus_max = results.metric("vus_max", "max")
    return {
        "run": results.run.model_dump(),
        "target": results.target.model_dump(),
        "capabilities": capability_line(results.target.capabilities),
        "instructions": shorten(results.target.instructions),
        "unexercised": unexercised_line(results.target.unexercised),
        "warnings": list(results.warnings),
        "server": f"{server.get('name', '')} {server.get('version', '')}".strip(),
        "scenarios": [s.model_dump() for s in results.scenarios],
        "vus_max": round(vus_max) if vus_max is not None else max((s.max_vus for s in results.scenarios), default=None),
    }


def _streams(results: Results) -> dict[str, Any] | None:
    summary = stream_summary(results)
    if summary is None:
        return None
    return {**asdict(summary), "rows": [{"name": name, "value": value} for name, value in summary.rows()]}


def _latency(row: Latency) -> dict[str, Any]:
    return {**row.model_dump(), "error_rate": row.error_rate}


def _totals(results: Results) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    v = results.metric
    if (reqs := v("http_reqs", "count")) is not None:
        rows.append(("HTTP requests", f"{count(reqs)} ({v('http_reqs', 'rate') or 0:.1f}/s)"))
    if (failed := v("http_req_failed", "rate")) is not None:
        rows.append(("HTTP failed", f"{pct(failed)} ({count(v('http_req_failed', 'passes') or 0)})"))
    if (iterations := v("iterations", "count")) is not None:
        rows.append(("iterations", f"{count(iterations)} ({v('iterations', 'rate') or 0:.1f}/s)"))
    if dropped := v("dropped_iterations", "count"):
        rows.append(("dropped iterations", count(dropped)))
    if results.run.interrupted_iterations:
        rows.append(("interrupted iterations", count(results.run.interrupted_iterations)))
    if (checks := v("checks", "rate")) is not None:
        total = (v("checks", "passes") or 0) + (v("checks", "fails") or 0)
        rows.append(("checks", f"{pct(checks)} ok of {count(total)}"))
    if reinit := v("mcp_session_reinit", "count"):
        rows.append(("sessions re-initialized", count(reinit)))
    if redirects := v("mcp_redirects", "count"):
        rows.append(("redirects followed", count(redirects)))
    sent, received = v("data_sent", "count"), v("data_received", "count")
    if sent is not None and received is not None:
        rows.append(("data", f"sent {size(sent)}, received {size(received)}"))
    return rows
