"""What a run or a merge hands the runner: the outputs later steps read, and annotations on the job."""

from __future__ import annotations

from mcpgate.doors.runner import Runner
from mcpgate.report.thresholds import measured
from mcpgate.results.schema import Results
from mcpgate.verdict.drift import worst_p95_change


def key_numbers(results: Results) -> dict[str, str]:
    """The outputs later steps read: p95 (tool calls, else all requests), error rate, throughput."""
    p95 = results.metric("mcp_tool_duration", "p(95)")
    if p95 is None:
        p95 = results.metric("http_req_duration", "p(95)")
    checks = results.metric("checks", "rate")
    rps = results.metric("http_reqs", "rate")
    drift = worst_p95_change(results.drift)
    return {
        "p95-ms": f"{p95:.3f}" if p95 is not None else "",
        "error-rate": f"{1 - checks:.6f}" if checks is not None else "",
        "rps": f"{rps:.3f}" if rps is not None else "",
        "drift": f"{drift * 100:.1f}" if drift is not None else "",
    }


def breakpoint_outputs(results: Results) -> dict[str, str]:
    """A breakpoint search's result for later steps: the short human value and the numbers.

    ``breaking-point-rate`` is in iterations/s: the arrival rate held, or with executor: vus the
    throughput measured at the breaking point; 0 when no step held. ``breaking-point-vus`` is
    the VU count held (executor: vus only).
    """
    search = results.breakpoint
    if search is None:
        return {}
    vus = search.breaking_point if search.executor == "vus" and search.breaking_point is not None else None
    return {
        "breaking-point": search.headline,
        "breaking-point-rate": f"{round(search.rate, 3):g}" if search.rate is not None else "",
        "breaking-point-vus": f"{vus:g}" if vus is not None else "",
    }


def annotate(results: Results, runner: Runner, fail_on_thresholds: bool) -> None:
    level = "error" if fail_on_thresholds else "warning"
    for warning in results.warnings:
        runner.command("warning", warning, title="mcpgate: warning")
    for t in results.thresholds:
        if not t.ok:
            runner.command(level, f"{t.expression} failed: {measured(results, t)}", title=t.metric)
    status = results.run.status
    if status in ("not_started", "interrupted", "error"):
        runner.command("error", results.run.reason or status, title=f"mcpgate: {status.replace('_', ' ')}")
    elif results.baseline is not None and not results.baseline.ok:
        runner.command(level, results.run.reason, title="mcpgate: regression against the baseline")
    elif results.breakpoint is not None and status == "failed":
        runner.command(level, results.run.reason, title="mcpgate: breakpoint search")
    elif results.breakpoint is not None and results.breakpoint.headline:
        runner.command("notice", results.run.reason, title=f"mcpgate: breaking point {results.breakpoint.headline}")
    if results.drift is not None and not results.drift.ok and status not in ("not_started", "interrupted", "error"):
        runner.command(level, results.drift.reason, title="mcpgate: drift over the steady load")
