"""The end-of-run summary on the console: verdict first, then the numbers behind it.

A pure function of ``Results``, so ``mcpgate report results.json`` prints the
same text the run printed.
"""

from __future__ import annotations

from collections.abc import Callable

from mcpgate.report.baseline import console_lines as baseline_lines
from mcpgate.report.breakpoint import console_lines as breakpoint_lines
from mcpgate.report.drift import render_text as drift_lines
from mcpgate.report.status import status_label
from mcpgate.report.streams import stream_summary
from mcpgate.report.thresholds import console_lines as threshold_lines
from mcpgate.results.schema import Latency, Results
from mcpgate.results.server import capability_line, shorten, unexercised_line
from mcpgate.support.format import count, ms, pct, size


def render_summary(results: Results) -> str:
    """The run in a few lines, then each part it has, a blank line before each."""
    lines = _run(results)
    for part in _PARTS:
        shown = part(results)
        if shown:
            lines.append("")
            lines.extend(shown)
    return "\n".join(lines)


def _run(results: Results) -> list[str]:
    """The verdict line, then what ran against what."""
    run, target = results.run, results.target
    lines = [f"mcpgate: {status_label(results)} (exit {run.exit_code})" + (f": {run.reason}" if run.reason else "")]
    lines.extend(f"WARNING: {warning}" for warning in results.warnings)
    lines.append("")
    lines.append(f"  target     {target.url}")
    if target.transport:
        server = target.server_info or {}
        who = f"{server.get('name', '?')} {server.get('version', '')}".strip()
        lines.append(f"  protocol   {target.transport}, {target.protocol_version}; server {who}")
    lines.extend(_server_lines(results))
    for scenario in results.scenarios:
        lines.append(f"  scenario   {scenario.name}: {scenario.description}")
    span = f"{run.duration_s:.1f}s"
    lines.append(f"  ran        {span} from {run.started_at}" + (f", profile {run.profile}" if run.profile else ""))
    lines.extend(_shard_lines(results))
    for note in run.notes:
        lines.append(f"  note       {note}")
    return lines


def _server_lines(results: Results) -> list[str]:
    """What the server offers (one line), its instructions (shortened), and what the run left unexercised."""
    target = results.target
    lines = []
    if target.capabilities:
        lines.append(f"  offers     {capability_line(target.capabilities)}")
    if target.instructions and target.instructions.strip():
        lines.append(f"  instructs  {shorten(target.instructions)}")
    if target.unexercised:
        lines.append(f"  unused     {unexercised_line(target.unexercised)}")
    return lines


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


def _breakpoint(results: Results) -> list[str]:
    return breakpoint_lines(results.breakpoint)


def _baseline(results: Results) -> list[str]:
    return baseline_lines(results.baseline) if results.baseline is not None else []


def _phases(results: Results) -> list[str]:
    if not results.phases:
        return []
    return ["  PHASES", *("    " + row for row in _table("step", results.phases))]


def _tools(results: Results) -> list[str]:
    if not results.tools:
        return []
    return ["  TOOLS (tools/call)", *("    " + row for row in _table("tool", results.tools))]


def _drift(results: Results) -> list[str]:
    return drift_lines(results.drift, indent="  ") if results.drift is not None else []


def _streams(results: Results) -> list[str]:
    streams = stream_summary(results)
    if streams is None:
        return []
    rows = streams.rows()
    width = max(len(label) for label, _ in rows)
    return ["  STREAMS", *(f"    {label:.<{width + 3}} {value}" for label, value in rows)]


def _errors(results: Results) -> list[str]:
    if not results.errors:
        return []
    lines = ["  ERRORS"]
    for error in results.errors:
        lines.append(f"    {error.kind:<17} {count(error.count):>8}")
        for sample in error.samples[:3]:
            where = f"{sample.method} {sample.tool}" if sample.tool else sample.method
            lines.append(f"      {count(sample.count):>6}x {where}: {sample.reason}")
    return lines


def _totals(results: Results) -> list[str]:
    return ["  TOTALS", *("    " + row for row in _total_rows(results))]


# In the order a reader asks: how far it went, did it pass, against what before, where the time went.
_PARTS: tuple[Callable[[Results], list[str]], ...] = (
    _breakpoint,
    threshold_lines,
    _baseline,
    _phases,
    _tools,
    _drift,
    _streams,
    _errors,
    _totals,
)


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


def _total_rows(results: Results) -> list[str]:
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
    redirects = results.metrics.get("mcp_redirects")
    if redirects is not None and redirects.values["count"]:
        rows.append(("mcp_redirects", count(redirects.values["count"])))
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
