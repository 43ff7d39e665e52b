"""The end-of-run summary on the console: verdict first, then the numbers behind it.

A pure function of ``Results``, so ``mcpgate report results.json`` prints the
same text the run printed.
"""

from __future__ import annotations

from mcpgate.catalog import BUILTIN
from mcpgate.compare import Delta, table_lines
from mcpgate.report.format import count, ms, observed, pct, size
from mcpgate.report.streams import stream_summary
from mcpgate.results import Latency, Results, ThresholdResult
from mcpgate.thresholds import parse_metric_key

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
    for note in run.notes:
        lines.append(f"  note       {note}")
    if results.thresholds:
        lines.append("")
        failed = sum(1 for t in results.thresholds if not t.ok)
        head = "all passed" if not failed else f"{failed} of {len(results.thresholds)} failed"
        lines.append(f"  THRESHOLDS ({head})")
        width = max(len(t.metric) for t in results.thresholds)
        for t in results.thresholds:
            lines.append("    " + _threshold(t, width))
    if results.baseline is not None:
        lines.append("")
        lines.extend(_baseline(results))
    if results.phases:
        lines.append("")
        lines.append("  PHASES")
        lines.extend("    " + row for row in _table("step", results.phases))
    if results.tools:
        lines.append("")
        lines.append("  TOOLS (tools/call)")
        lines.extend("    " + row for row in _table("tool", results.tools))
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


def _threshold(t: ThresholdResult, width: int) -> str:
    mark = "✓" if t.ok else "✗"
    key = parse_metric_key(t.metric)
    info = BUILTIN.get(key.name)
    shown = observed(info.type.value if info else "", t.aggregation, t.value)
    extra = " (stopped the run)" if t.aborted_run else ""
    return f"{mark} {t.metric:<{width}}  {t.expression:<16} {shown}{extra}"


def _baseline(results: Results) -> list[str]:
    section = results.baseline
    assert section is not None
    regressions = sum(1 for d in section.deltas if d.regressed)
    head = "no regression" if not regressions else f"{regressions} regression(s)"
    lines = [f"  BASELINE ({head}; limit {section.max_regression:.0%}, baseline from {section.baseline_started})"]
    deltas = [Delta(d.metric, d.stat, d.kind, d.baseline, d.current, d.regressed) for d in section.deltas]
    lines.extend("    " + row for row in table_lines(deltas))
    lines.extend(f"    note: {note}" for note in section.notes)
    return lines


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
