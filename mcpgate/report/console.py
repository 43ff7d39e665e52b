"""The end-of-run summary on the console: verdict first, then the numbers behind it.

A pure function of ``Results``, so ``mcpgate report results.json`` prints the
same text the run printed.
"""

from __future__ import annotations

from mcpgate.metrics.catalog import BUILTIN
from mcpgate.metrics.keys import parse_metric_key
from mcpgate.plan.breakpoint import BreakpointPlan
from mcpgate.report.baseline import console_lines as baseline_lines
from mcpgate.report.drift import render_text as render_drift
from mcpgate.report.streams import stream_summary
from mcpgate.results.schema import BreakpointResult, BreakpointStep, Latency, Results, ThresholdResult
from mcpgate.support.format import count, ms, observed, pct, size
from mcpgate.verdict.breakpoint import StepResult

MAX_STEP_ROWS = 40  # a longer search shows its last steps, nearest the break

_VERDICT = {
    "passed": "PASSED",
    "failed": "FAILED: thresholds crossed",
    "aborted": "ABORTED: a threshold stopped the run",
    "interrupted": "INTERRUPTED",
    "not_started": "DID NOT START",
    "error": "STOPPED BY AN INTERNAL ERROR",
}


def render_summary(results: Results) -> str:
    lines: list[str] = []
    run, target = results.run, results.target
    verdict = _VERDICT[run.status]
    if run.status == "failed" and all(t.ok for t in results.thresholds):
        verdict = "FAILED"  # not the thresholds: the reason says what (drift, a regression)
    lines.append(f"mcpgate: {verdict} (exit {run.exit_code})" + (f": {run.reason}" if run.reason else ""))
    lines.append("")
    lines.append(f"  target     {target.url}")
    if target.transport:
        server = target.server_info or {}
        who = f"{server.get('name', '?')} {server.get('version', '')}".strip()
        lines.append(f"  protocol   {target.transport}, {target.protocol_version}; server {who}")
    for scenario in results.scenarios:
        lines.append(f"  scenario   {scenario.name}: {scenario.description}")
    span = f"{run.duration_s:.1f}s"
    lines.append(f"  ran        {span} from {run.started_at}" + (f", profile {run.profile}" if run.profile else ""))
    lines.extend(_shard_lines(results))
    for note in run.notes:
        lines.append(f"  note       {note}")
    if results.breakpoint is not None:
        lines.append("")
        lines.extend(f"  {row}" if row else "" for row in _breakpoint(results.breakpoint))
    if results.thresholds:
        lines.append("")
        failed = sum(1 for t in results.thresholds if not t.ok)
        head = "all passed" if not failed else f"{failed} of {len(results.thresholds)} failed"
        lines.append(f"  THRESHOLDS ({head}{_judged_at(results.breakpoint)})")
        width = max(len(t.metric) for t in results.thresholds)
        for t in results.thresholds:
            lines.append("    " + _threshold(t, width))
    if results.baseline is not None:
        lines.append("")
        lines.extend(baseline_lines(results.baseline))
    if results.phases:
        lines.append("")
        lines.append("  PHASES")
        lines.extend("    " + row for row in _table("step", results.phases))
    if results.tools:
        lines.append("")
        lines.append("  TOOLS (tools/call)")
        lines.extend("    " + row for row in _table("tool", results.tools))
    if results.drift is not None:
        lines.append("")
        lines.extend(render_drift(results.drift, indent="  "))
    streams = stream_summary(results)
    if streams is not None:
        lines.append("")
        lines.append("  STREAMS")
        rows = streams.rows()
        width = max(len(label) for label, _ in rows)
        lines.extend(f"    {label:.<{width + 3}} {value}" for label, value in rows)
    if results.errors:
        lines.append("")
        lines.append("  ERRORS")
        for error in results.errors:
            lines.append(f"    {error.kind:<17} {count(error.count):>8}")
            for sample in error.samples[:3]:
                where = f"{sample.method} {sample.tool}" if sample.tool else sample.method
                lines.append(f"      {count(sample.count):>6}x {where}: {sample.reason}")
    lines.append("")
    lines.append("  TOTALS")
    lines.extend("    " + row for row in _totals(results))
    return "\n".join(lines)


def _shard_lines(results: Results) -> list[str]:
    """A shard's part (--shard I/N), or which shards a merge holds and any that did not run to the end."""
    shard = results.run.shard
    if shard is None:
        return []
    when = f", load from {shard.start_at}" if shard.start_at else ""
    if shard.index is not None:
        return [f"  shard      {shard.index}/{shard.count} (its part of every scenario){when}"]
    held = ", ".join(str(i) for i in shard.merged)
    missing = f"; missing: {', '.join(str(i) for i in shard.missing)}" if shard.missing else ""
    lines = [f"  shards     {held} of {shard.count} merged{when}{missing}"]
    for r in shard.runs:
        if r.status not in ("passed", "failed"):
            label = f"shard {r.index}"
            why = f": {r.reason}" if r.reason else ""
            lines.append(f"  {label:<10} {r.status.replace('_', ' ')} (exit {r.exit_code}){why}")
    return lines


def step_line(plan: BreakpointPlan, step: StepResult) -> str:
    """A breakpoint step as it is judged, for the progress output."""
    head = f"breakpoint step {step.index + 1}/{len(plan.levels)}: {plan.show(step.level)}"
    if not step.held:
        return f"{head} broke: {step.failures[0].text}"
    tools = f" (tools {ms(step.p95_tool)})" if step.p95_tool is not None else ""
    return (
        f"{head} held: {step.throughput:.1f} iterations/s, {step.rps:.1f} req/s, "
        f"p95 {ms(step.p95_http)}{tools}, not ok {pct(step.error_rate)}"
    )


def _breakpoint(search: BreakpointResult) -> list[str]:
    """The search: where it broke and why, then a row per step (the breaking point marked)."""
    lines = [f"BREAKPOINT  {search.headline or 'no step was judged'}" + _which(search)]
    held = search.row(search.breaking_step)
    if held is not None:
        lines.append(f"  held      {search.show(held.level)}: {_figures(held)}")
    broken = search.row(search.broken_step)
    if broken is not None:
        lines.append(f"  broke at  {search.show(broken.level)}: {broken.failures[0].text}")
        lines.extend(f"            {f.text}" for f in broken.failures[1:])
    lines.append(f"  limits    the thresholds on each step alone; {search.limits()}")
    if search.min_breaking_point is not None:
        gate = {True: "passed", False: "FAILED", None: "not judged: the search did not end"}[search.gate_ok]
        lines.append(f"  gate      at least {search.show(search.min_breaking_point)}: {gate}")
    if not search.steps:
        return lines
    lines.append("")
    shown = search.steps[-MAX_STEP_ROWS:]
    if len(shown) < len(search.steps):
        lines.append(f"    ({len(search.steps) - len(shown)} earlier steps held; the results file has them)")
    width = max(len("level"), *(len(search.show(s.level, short=True)) for s in shown))
    lines.append(
        f"    {'step':>4}  {'level':<{width}}  {'it/s':>7}  {'req/s':>8}  {'p95':>8}  {'p95 tool':>8}  "
        f"{'not ok':>7}  {'dropped':>7}"
    )
    lines.extend(_step_row(search, s, width) for s in shown)
    return lines


def _figures(s: BreakpointStep) -> str:
    """A step's figures in a sentence: ``9.7 iterations/s, 29.7 req/s, p95 221ms (tools 232ms), not ok 0%``."""
    tools = f" (tools {ms(s.p95_tool_ms)})" if s.p95_tool_ms is not None else ""
    return (
        f"{s.throughput:.1f} iterations/s, {s.rps:.1f} req/s, p95 {ms(s.p95_http_ms)}{tools}, "
        f"not ok {pct(s.error_rate)}"
    )


def _step_row(search: BreakpointResult, s: BreakpointStep, width: int) -> str:
    mark = "✓" if s.held else "✗"
    level = search.show(s.level, short=True)
    cut = " (cut short)" if s.partial else ""
    point = "  ← breaking point" if s.step == search.breaking_step and search.found else ""
    return (
        f"  {mark} {s.step:>4}  {level:<{width}}  {s.throughput:>7.1f}  {s.rps:>8.1f}  {ms(s.p95_http_ms):>8}  "
        f"{ms(s.p95_tool_ms):>8}  {pct(s.error_rate):>7}  {count(s.dropped):>7}{point}{cut}"
    )


def _which(search: BreakpointResult) -> str:
    if search.breaking_step is None:
        return ""
    return f" (step {search.breaking_step} of {len(search.levels)})"


def _judged_at(search: BreakpointResult | None) -> str:
    """For a search: which step's verdicts the list shows (each step is judged alone)."""
    if search is None:
        return ""
    step = search.row(search.breaking_step or search.broken_step)
    if step is None:
        return ""
    return f"; judged on each step alone, shown for step {step.step}: {search.show(step.level)}"


def _threshold(t: ThresholdResult, width: int) -> str:
    mark = "✓" if t.ok else "✗"
    key = parse_metric_key(t.metric)
    info = BUILTIN.get(key.name)
    shown = observed(info.type.value if info else "", t.aggregation, t.value)
    extra = " (stopped the run)" if t.aborted_run else ""
    return f"{mark} {t.metric:<{width}}  {t.expression:<16} {shown}{extra}"


def _table(label: str, rows: list[Latency]) -> list[str]:
    width = max(len(label), *(len(r.name) for r in rows))
    head = f"{label:<{width}}  {'count':>9}  {'p50':>8}  {'p95':>8}  {'p99':>8}  {'max':>8}  {'errors':>7}"
    out = [head]
    for r in rows:
        out.append(
            f"{r.name:<{width}}  {count(r.count):>9}  {ms(r.p50):>8}  {ms(r.p95):>8}  {ms(r.p99):>8}  "
            f"{ms(r.max):>8}  {pct(r.error_rate):>7}"
        )
    return out


def _totals(results: Results) -> list[str]:
    rows: list[tuple[str, str]] = []
    reqs = results.metrics.get("http_reqs")
    if reqs is not None:
        rows.append(("http_reqs", f"{count(reqs.values['count'])}  {reqs.values['rate']:.1f}/s"))
    failed = results.metrics.get("http_req_failed")
    if failed is not None:
        rows.append(("http_req_failed", f"{pct(failed.values['rate'])}  ({count(failed.values['passes'])} failed)"))
    duration = results.metrics.get("http_req_duration")
    if duration is not None:
        v = duration.values
        rows.append(
            ("http_req_duration", f"avg={ms(v['avg'])} med={ms(v['med'])} p(95)={ms(v['p(95)'])} max={ms(v['max'])}")
        )
    checks = results.metrics.get("checks")
    if checks is not None:
        rows.append(("checks", f"{pct(checks.values['rate'])} ok"))
    iterations = results.metrics.get("iterations")
    if iterations is not None:
        rows.append(("iterations", f"{count(iterations.values['count'])}  {iterations.values['rate']:.1f}/s"))
    dropped = results.metrics.get("dropped_iterations")
    if dropped is not None and dropped.values["count"]:
        rows.append(("dropped_iterations", count(dropped.values["count"])))
    reinit = results.metrics.get("mcp_session_reinit")
    if reinit is not None and reinit.values["count"]:
        rows.append(("mcp_session_reinit", count(reinit.values["count"])))
    sent, received = results.metrics.get("data_sent"), results.metrics.get("data_received")
    if sent is not None and received is not None:
        rows.append(("data", f"sent {size(sent.values['count'])}, received {size(received.values['count'])}"))
    vus_max = results.metrics.get("vus_max")
    if vus_max is not None:
        rows.append(("vus_max", count(vus_max.values["max"])))
    if results.run.interrupted_iterations:
        rows.append(("interrupted iterations", count(results.run.interrupted_iterations)))
    width = max((len(name) for name, _ in rows), default=0)
    return [f"{name:.<{width + 3}} {value}" for name, value in rows]
