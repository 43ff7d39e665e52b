"""The Markdown job summary: a pure function of ``Results``, rendered by jinja2 templates.

Verdict first, then the numbers behind it, then how the run evolved, so the
first screen of a GitHub job summary answers "did it pass, and why". GitHub
drops a step summary larger than 1 MiB, so the rendering is trimmed to
``max_bytes`` (least important parts first) and a final line says what went.
Charts are unicode sparklines in a code block: they read the same wherever
Markdown does not render (mermaid is not confirmed to render in job summaries).

A user's own template (``--summary-template``) renders in a sandbox with the
context below; it may include the built-in parts as ``mcpgate/<name>.md.j2``
(``verdict``, ``thresholds``, ``latency``, ``streams``, ``errors``, ``run``,
``timeline``, ``summary``, ``breakpoint``). Its output is held to ``max_bytes`` like the built-in one
(the context is trimmed the same way, the trim line appended). Undefined
variables are errors. Strings from the server or the
config are raw: pass them through the ``cell`` filter before they land in
Markdown. Filters: ``cell`` (``md_cell``, optional length limit), ``ms``,
``pct``, ``count``, ``size`` (the formats of ``mcpgate.support.format``).

Context variables (``summary_context``):

- ``verdict``: dict with ``status`` (passed, failed, aborted, interrupted,
  not_started, error), ``passed`` (bool), ``label`` ("FAILED: thresholds
  crossed"), ``icon``, ``exit_code``, ``reason`` (one line: why).
- ``thresholds``: list of dicts with ``ok``, ``mark`` (✓/✗), ``metric``,
  ``expression``, ``aggregation``, ``value`` (float or None), ``observed``
  (the value in the metric's units: "p(95)=1.81s", "no data"),
  ``abort_on_fail``, ``aborted_run``; ``thresholds_failed``: how many failed.
- ``phases``, ``tools``: lists of dicts with ``name``, ``count``, ``errors``,
  ``error_rate`` (fraction), ``p50``, ``p95``, ``p99``, ``avg``, ``max`` (ms);
  ``tools_omitted``: tools left out to fit the size limit (0 normally).
- ``errors``: list of dicts with ``kind`` (the error class), ``count``,
  ``other`` (occurrences whose reasons were not kept), ``samples`` (list of
  dicts with ``reason``, ``method``, ``tool`` (or None), ``count``);
  ``error_total``: all errors.
- ``run``: the run's record (``status``, ``exit_code``, ``reason``,
  ``started_at``, ``ended_at``, ``duration_s``, ``profile``, ``source``,
  ``config_digest``, ``mcpgate_version``, ``interrupted_iterations``,
  ``notes``, ``shard``: None, or ``index`` (None when merged), ``count``,
  ``start_at``, ``lag_s``, ``merged``, ``missing``, ``runs``); ``target``: ``url``, ``transport``, ``protocol_version``,
  ``server_info``, ``chosen``, ``tools``; ``server``: "name version" or "";
  ``scenarios``: list of dicts with ``name``, ``executor``, ``description``,
  ``max_vus``, ``start_time``, ``duration``; ``vus_max``: int or None.
- ``totals``: list of dicts with ``name`` and ``value`` (formatted text).
- ``timeline``: None, or a dict with ``interval_s``, ``points`` (how many),
  ``per_row`` (points merged per table row), ``rows`` (list of dicts with
  ``start``, ``end`` (seconds), ``vus`` (max), ``requests``, ``rps``,
  ``failed``, ``errors``, ``iterations``, ``dropped`` (sums), ``p95`` (worst,
  ms, or None)), ``per_char`` (points one sparkline character merges) and
  ``sparklines`` (list of dicts with ``name``, ``line``, ``summary``).
- ``streams``: None (no stream was held, no server message came), or a dict with
  ``held``, ``max_open``, ``open_at_end``, ``p50``, ``p95``, ``longest`` (ms, or
  None), ``events``, ``closed``, ``stalled`` (counts), ``notifications`` and
  ``requests`` (lists of ``[method, count]``, busiest first), and ``rows`` (list of
  dicts with ``name`` and ``value``: the console's lines).
- ``baseline``: None, or the comparison with a baseline run: ``ok``, ``started``,
  ``limit`` (e.g. "20%"), ``regressions`` (how many), ``deltas`` (list of dicts
  with ``mark``, ``metric``, ``stat``, ``baseline``, ``current`` (formatted),
  ``change`` (e.g. "+12.5%"), ``regressed``), ``notes`` (what makes the comparison
  less telling: another config or target, a baseline that did not pass).
- ``drift``: None, or the first and last windows of steady load compared (the
  part ``mcpgate/drift.md.j2`` renders it): ``verdict`` ("no drift", "2
  drifted", "reported only", "not judged"), ``judged`` (bool), ``ok``,
  ``note`` (why it was not judged), ``reason`` (the failure line, or ""),
  ``heading`` (the windows, the steady load, the limit), ``limit`` ("20%", or
  None: reported only), ``window`` ("4m"), ``load`` (what ran steadily),
  ``span`` (when, e.g. "2m–12m"), ``first_span`` and ``last_span`` (what
  each window's intervals cover, e.g. "2m–4m30s", or ""), ``drifted`` (how many rows), ``rows`` (list
  of dicts with ``mark`` (✓, ✗, · when not gated, - when not judged),
  ``metric``, ``stat``, ``first``, ``last`` (formatted), ``change`` (e.g.
  "+12.5%"), ``judged``, ``drifted``, ``note``); ``drift_omitted``: rows left
  out to fit the size limit.
- ``breakpoint``: None, or the breakpoint search: ``headline`` ("120
  iterations/s", "not reached up to 200 iterations/s"), ``found``,
  ``complete``, ``reason``, ``ladder`` (the levels and timing), ``limits``
  (what breaks a step besides the thresholds), ``held`` (None, or the
  breaking point's step: ``step``, ``level``, ``throughput``, ``rps``,
  ``p95``, ``p95_tool``, ``error_rate``), ``broke`` (None, or a dict with
  ``step``, ``level`` and ``failures``, a list of one-line reasons),
  ``gate`` (None, or a dict with ``minimum`` and ``ok``: True, False, or None
  when the search did not end), ``shown`` (the step whose thresholds
  ``thresholds`` shows), ``rows`` (the last ``MAX_TABLE_ROWS`` steps: dicts
  with ``mark``, ``step``, ``level``, ``throughput``, ``rps``, ``p95``,
  ``p95_tool`` (ms or None), ``error_rate``, ``dropped``, ``held``,
  ``partial``, ``breaking``), and ``omitted`` (earlier steps left out).
- ``results``: the ``Results`` model itself, untrimmed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from mcpgate.metrics.catalog import BUILTIN
from mcpgate.metrics.keys import parse_metric_key
from mcpgate.report.baseline import baseline_context
from mcpgate.report.drift import drift_context
from mcpgate.report.streams import stream_summary
from mcpgate.results.schema import Latency, Results, ThresholdResult, TimelinePoint
from mcpgate.support.format import count, ms, observed, pct, size

__all__ = ["md_cell", "measured", "merge_points", "render_drift", "render_markdown", "sparkline", "summary_context"]

MAX_TABLE_ROWS = 30
MAX_SPARK_CHARS = 60
SPARKS = "▁▂▃▄▅▆▇█"
_ENTRY = "mcpgate/summary.md.j2"

_VERDICT: dict[str, tuple[str, str]] = {
    "passed": ("✅", "PASSED"),
    "failed": ("❌", "FAILED: thresholds crossed"),
    "aborted": ("🛑", "ABORTED: a threshold stopped the run"),
    "interrupted": ("⚠️", "INTERRUPTED"),
    "not_started": ("⛔", "DID NOT START"),
    "error": ("💥", "STOPPED BY AN INTERNAL ERROR"),
}

# -- escaping ---------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
# Backslash-escape what could start inline syntax, and no more, so the raw text stays readable:
# always code spans, emphasis, links, strikethrough, math and cell pipes; "_" unless inside a word
# (GFM ignores intraword underscores); "<" only where it could open a tag or an autolink; "&" only
# where it could start an entity. The unconditional ones go through str.replace, which is fast.
_MD_ALWAYS = "\\`*[]~|$"  # the backslash first, so the escapes added after it stay single
_MD_SOMETIMES = re.compile(r"(?<![^\W_])_|_(?![^\W_])|<(?=[A-Za-z/!?])|&(?=[#A-Za-z])")


def md_cell(value: object, limit: int | None = None) -> str:
    """Any text as one line of inert Markdown, safe inside a table cell or a sentence.

    Server and config strings must not break a table (pipes, newlines), open
    code spans, links, emphasis or math, or inject HTML (``</details>``,
    ``<img>``): whitespace runs become one space, control characters go, and
    what could start inline syntax is backslash-escaped. ``limit`` cuts the
    text (before escaping) with "…".
    """
    text = "" if value is None else str(value)
    if not text.isprintable():  # a fast test first: most text has no control characters
        text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + "…"
    for char in _MD_ALWAYS:
        if char in text:
            text = text.replace(char, "\\" + char)
    if "_" in text or "<" in text or "&" in text:
        text = _MD_SOMETIMES.sub(_backslash, text)
    return text


def _backslash(match: re.Match[str]) -> str:
    return "\\" + match.group()


# -- the context ------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Interval:
    """Consecutive timeline points merged into one row: counts summed, VUs and p95 at their worst."""

    start: float
    end: float
    vus: int
    requests: int
    rps: float
    failed: int
    errors: int
    iterations: int
    dropped: int
    p95: float | None


def merge_points(points: Sequence[TimelinePoint], max_rows: int) -> list[Interval]:
    """At most ``max_rows`` intervals, each merging the same number of consecutive points (the last fewer).

    A merged p95 is the worst of its points (exact percentiles of a window would
    need the per-interval histograms; the worst is what a reader looks for).
    """
    if not points or max_rows < 1:
        return []
    per = math.ceil(len(points) / max_rows)
    rows: list[Interval] = []
    start = 0.0
    for i in range(0, len(points), per):
        group = points[i : i + per]
        end = group[-1].t
        requests = sum(p.requests for p in group)
        p95s = [p.p95 for p in group if p.p95 is not None]
        span = end - start
        rows.append(
            Interval(
                start=start,
                end=end,
                vus=max(p.vus for p in group),
                requests=requests,
                rps=requests / span if span > 0 else sum(p.rps for p in group) / len(group),
                failed=sum(p.failed for p in group),
                errors=sum(p.errors for p in group),
                iterations=sum(p.iterations for p in group),
                dropped=sum(p.dropped for p in group),
                p95=max(p95s) if p95s else None,
            )
        )
        start = end
    return rows


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, scaled from 0 to the largest; any value above 0 shows above the baseline.

    Missing values (no requests in that interval) show as "·".
    """
    top = max((v for v in values if v is not None), default=0.0)
    chars: list[str] = []
    for v in values:
        if v is None:
            chars.append("·")
        elif v <= 0 or top <= 0:
            chars.append(SPARKS[0])
        else:
            chars.append(SPARKS[min(len(SPARKS) - 1, max(1, math.ceil(v / top * (len(SPARKS) - 1))))])
    return "".join(chars)


def summary_context(results: Results) -> dict[str, Any]:
    """Everything a summary template may use (documented in this module's docstring)."""
    run, target = results.run, results.target
    icon, label = _VERDICT.get(run.status, ("", run.status.upper()))
    if run.status == "failed" and all(t.ok for t in results.thresholds):
        label = "FAILED"  # not the thresholds: the reason says what (drift, a regression)
    server = results.target.server_info or {}
    vus_max = results.metric("vus_max", "max")
    return {
        "verdict": {
            "status": run.status,
            "passed": results.passed,
            "label": label,
            "icon": icon,
            "exit_code": run.exit_code,
            "reason": _why(results),
        },
        "thresholds": [
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
        ],
        "thresholds_failed": sum(1 for t in results.thresholds if not t.ok),
        "phases": [_latency(row) for row in results.phases],
        "tools": [_latency(row) for row in results.tools],
        "tools_omitted": 0,
        "errors": [
            {
                "kind": e.kind,
                "count": e.count,
                "other": e.other,
                "samples": [s.model_dump() for s in e.samples],
            }
            for e in results.errors
        ],
        "error_total": sum(e.count for e in results.errors),
        "run": run.model_dump(),
        "target": target.model_dump(),
        "server": f"{server.get('name', '')} {server.get('version', '')}".strip(),
        "scenarios": [s.model_dump() for s in results.scenarios],
        "vus_max": round(vus_max) if vus_max is not None else max((s.max_vus for s in results.scenarios), default=None),
        "totals": [{"name": name, "value": value} for name, value in _totals(results)],
        "timeline": _timeline(results),
        "streams": _streams(results),
        "baseline": baseline_context(results.baseline),
        "drift": drift_context(results.drift),
        "drift_omitted": 0,
        "breakpoint": _breakpoint(results),
        "results": results,
    }


def _breakpoint(results: Results) -> dict[str, Any] | None:
    """The breakpoint search: where it broke and why, and the steps nearest the break."""
    search = results.breakpoint
    if search is None:
        return None
    held = search.row(search.breaking_step)
    broken = search.row(search.broken_step)
    shown = search.row(search.breaking_step or search.broken_step)
    rows = [
        {
            "mark": "✓" if s.held else "✗",
            "step": s.step,
            "level": search.show(s.level),
            "throughput": s.throughput,
            "rps": s.rps,
            "p95": s.p95_http_ms,
            "p95_tool": s.p95_tool_ms,
            "error_rate": s.error_rate,
            "dropped": s.dropped,
            "held": s.held,
            "partial": s.partial,
            "breaking": search.found and s.step == search.breaking_step,
        }
        for s in search.steps[-MAX_TABLE_ROWS:]
    ]
    return {
        "headline": search.headline or "no step was judged",
        "found": search.found,
        "complete": search.complete,
        "reason": search.reason,
        "ladder": search.ladder(),
        "limits": search.limits(),
        "held": None
        if held is None
        else {
            "step": held.step,
            "level": search.show(held.level),
            "throughput": held.throughput,
            "rps": held.rps,
            "p95": held.p95_http_ms,
            "p95_tool": held.p95_tool_ms,
            "error_rate": held.error_rate,
        },
        "broke": None
        if broken is None
        else {"step": broken.step, "level": search.show(broken.level), "failures": [f.text for f in broken.failures]},
        "gate": None
        if search.min_breaking_point is None
        else {"minimum": search.show(search.min_breaking_point), "ok": search.gate_ok},
        "shown": None if shown is None else {"step": shown.step, "level": search.show(shown.level)},
        "rows": rows,
        "omitted": len(search.steps) - len(rows),
    }


def _streams(results: Results) -> dict[str, Any] | None:
    summary = stream_summary(results)
    if summary is None:
        return None
    return {**asdict(summary), "rows": [{"name": name, "value": value} for name, value in summary.rows()]}


def _why(results: Results) -> str:
    run = results.run
    if run.reason:
        return " ".join(run.reason.split())
    if run.status == "passed":
        n = len(results.thresholds)
        return f"all {n} thresholds passed" if n else "the run completed; no thresholds were set"
    return run.status.replace("_", " ")


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
    sent, received = v("data_sent", "count"), v("data_received", "count")
    if sent is not None and received is not None:
        rows.append(("data", f"sent {size(sent)}, received {size(received)}"))
    return rows


def _timeline(results: Results) -> dict[str, Any] | None:
    series = results.timeseries
    if series is None or not series.points:
        return None
    points = series.points
    rows = merge_points(points, MAX_TABLE_ROWS)
    spark = merge_points(points, MAX_SPARK_CHARS)
    duration = points[-1].t
    requests = sum(p.requests for p in points)
    p95s = [r.p95 for r in spark if r.p95 is not None]
    lines: list[tuple[str, list[float | None], str]] = [
        ("VUs", [float(r.vus) for r in spark], f"peak {max(r.vus for r in spark)}"),
        ("req/s", [r.rps for r in spark], f"peak {max(r.rps for r in spark):.1f}, mean {_rate(requests, duration)}"),
        ("p95", [r.p95 for r in spark], f"worst {ms(max(p95s))}" if p95s else "no data"),
        ("errors", [float(r.errors) for r in spark], f"total {count(sum(p.errors for p in points))}"),
    ]
    return {
        "interval_s": series.interval_s,
        "points": len(points),
        "per_row": math.ceil(len(points) / MAX_TABLE_ROWS),
        "rows": [asdict(r) for r in rows],
        "per_char": math.ceil(len(points) / MAX_SPARK_CHARS),
        "sparklines": [{"name": name, "line": sparkline(values), "summary": text} for name, values, text in lines],
    }


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:.1f}" if seconds > 0 else "-"


# -- trimming to the size limit ---------------------------------------------------------

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


def _fit(render: Callable[[dict[str, Any]], str], ctx: dict[str, Any], max_bytes: int) -> str:
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


# -- rendering --------------------------------------------------------------------------


def _configure(env: jinja2.Environment) -> jinja2.Environment:
    env.filters.update(cell=md_cell, ms=ms, pct=pct, count=count, size=size)
    return env


def _options() -> dict[str, Any]:
    return {
        "autoescape": False,  # Markdown, not HTML: values are escaped by the ``cell`` filter where they land
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
    }


def _builtin_loader() -> jinja2.BaseLoader:
    return jinja2.PrefixLoader({"mcpgate": jinja2.PackageLoader("mcpgate.report", "templates")})


@cache
def _builtin_env() -> jinja2.Environment:
    return _configure(jinja2.Environment(loader=_builtin_loader(), **_options()))


def _user_env(folder: Path) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(folder), _builtin_loader()])
    return _configure(SandboxedEnvironment(loader=loader, **_options()))


def render_markdown(results: Results, *, template: Path | None = None, max_bytes: int = 1_000_000) -> str:
    """The job summary, at most ``max_bytes`` bytes of UTF-8; a user ``template`` gets the same context.

    Template errors (syntax, undefined names, sandbox violations, unreadable
    file) raise ``ValueError`` with one line naming the file and line.
    """
    if template is None:
        compiled = _builtin_env().get_template(_ENTRY)
        return _fit(compiled.render, summary_context(results), max_bytes)
    name = template.name
    try:
        compiled = _user_env(template.parent).get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise ValueError(f"summary template {template}: not found ({exc.message or exc.name})") from None
    except (jinja2.TemplateError, OSError, UnicodeDecodeError) as exc:
        raise _template_error(template, exc) from None

    def render(ctx: dict[str, Any]) -> str:
        try:
            return compiled.render(ctx)
        except Exception as exc:  # a user's template may fail in any way: it is input, not a bug
            raise _template_error(template, exc) from None

    return _fit(render, summary_context(results), max_bytes)


def render_drift(results: Results) -> str:
    """Only the drift section (``mcpgate drift --format md``)."""
    return _builtin_env().get_template("mcpgate/drift.md.j2").render(summary_context(results))


def _template_error(template: Path, exc: BaseException) -> ValueError:
    """One line: the file (and the included one, if the error is there), the line, what went wrong."""
    filename, line = _template_frame(exc.__traceback__)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        filename, line = exc.filename, exc.lineno
    where = str(template)
    if filename and Path(filename).name != template.name:
        where += f" (in {Path(filename).name})"
    if line:
        where += f", line {line}"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return ValueError(f"summary template {where}: {' '.join(str(message).split())}")


def _template_frame(tb: TracebackType | None) -> tuple[str | None, int | None]:
    """The innermost template frame of an error: jinja rewrites tracebacks so these carry file and line."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
