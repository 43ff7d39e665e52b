"""The results file (``"schema": "mcpgate/results/v1"``): written by every run, read by every report.

Everything a report shows is in here, so ``mcpgate report`` can render any
saved run again, and every trend carries its HDR histogram (HdrHistogram's
standard compressed base64) so runs from several processes or machines can be
merged exactly later. Secrets never enter: every string that came from the
server or the config passes through the run's redactor first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from mcpgate.breakpoint import BreakpointPlan, StepResult, conclude
from mcpgate.catalog import BUILTIN, MetricType
from mcpgate.durations import format_duration
from mcpgate.metrics import (
    CounterSeries,
    GaugeSeries,
    Metrics,
    RateSeries,
    Tags,
    TrendSeries,
    TrendSnapshot,
    format_key,
    kind_of_series,
    new_histogram,
)
from mcpgate.recorder import ErrorLog
from mcpgate.redact import Redactor
from mcpgate.thresholds import Verdict
from mcpgate.timeline import Timeline

SCHEMA = "mcpgate/results/v1"
Status = Literal["passed", "failed", "aborted", "interrupted", "not_started", "error"]

# Sub-metrics written for each metric, by tag: what reports and later comparisons need.
_SUBMETRIC_TAGS: dict[str, tuple[str, ...]] = {
    "mcp_tool_duration": ("tool",),
    "mcp_tool_errors": ("tool",),
    "mcp_tool_is_error": ("tool",),
    "http_req_duration": ("method",),
    "http_req_failed": ("method",),
    "http_reqs": ("method",),
    "checks": ("check",),
    "mcp_server_notifications": ("method",),
    "mcp_server_requests": ("method",),
}
TREND_STATS = ("count", "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")
PHASE_ORDER = (
    "sse/connect",
    "initialize",
    "notifications/initialized",
    "sse/listen",
    "server/discover",
    "tools/list",
    "tools/call",
    "session/delete",
)


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class MetricEntry(_Model):
    type: MetricType
    unit: str = ""
    values: dict[str, float]
    hdr: str | None = None  # trends only


class ThresholdResult(_Model):
    metric: str
    expression: str
    aggregation: str
    ok: bool
    value: float | None
    reason: str = ""
    abort_on_fail: bool = False
    aborted_run: bool = False
    allow_no_data: bool = False  # so a merge of shards judges the threshold as the run did


class ErrorSample(_Model):
    reason: str
    method: str
    tool: str | None = None
    count: int


class ErrorClass(_Model):
    kind: str = Field(alias="class")
    count: int
    samples: list[ErrorSample]
    other: int = 0  # occurrences whose reasons were not kept


class Latency(_Model):
    """One row of the per-phase or per-tool tables."""

    name: str
    count: int
    errors: int
    p50: float
    p95: float
    p99: float
    avg: float
    max: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


class SeriesEntry(_Model):
    """One metric with one full tag set: the raw material for exact merges."""

    metric: str
    tags: dict[str, str]
    type: MetricType
    values: dict[str, float]
    hdr: str | None = None


class TimelinePoint(_Model):
    t: float
    vus: int
    vus_max: int
    requests: int
    rps: float
    failed: int
    errors: int
    iterations: int
    dropped: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    tools: dict[str, tuple[int, float]] = Field(default_factory=dict)


class Timeseries(_Model):
    interval_s: float
    points: list[TimelinePoint]
    hdr: dict[str, list[str | None]] = Field(default_factory=dict)


class ScenarioInfo(_Model):
    name: str
    executor: str
    description: str
    max_vus: int
    start_time: float
    duration: float


class TargetInfo(_Model):
    url: str
    transport: str | None = None
    protocol_version: str | None = None
    server_info: dict[str, Any] | None = None
    chosen: str = ""
    tools: list[str] = Field(default_factory=list)


class ShardRun(_Model):
    """One shard of a merged run, as its own results file said it went."""

    index: int
    status: Status
    exit_code: int
    reason: str = ""
    started_at: str = ""
    duration_s: float = 0.0
    workers: int = 1
    lag_s: float = 0.0


class ShardInfo(_Model):
    """``run.shard``: a shard's part of a run (``--shard I/N``), or, merged, the shards it holds."""

    index: int | None = None  # None: the merge of the shards in ``merged``
    count: int
    start_at: str | None = None  # the instant every shard's load starts (--start-at): t = 0 of the timeline
    lag_s: float = 0.0  # how late this shard's load started after start_at
    merged: list[int] = Field(default_factory=list)
    missing: list[int] = Field(default_factory=list)  # shards a merge did not have (--allow-missing)
    runs: list[ShardRun] = Field(default_factory=list)


class RunInfo(_Model):
    status: Status
    exit_code: int
    reason: str = ""
    started_at: str
    ended_at: str
    duration_s: float
    profile: str | None = None
    source: str = ""
    config_digest: str = ""
    mcpgate_version: str = ""
    interrupted_iterations: int = 0
    workers: int = 1  # generator processes the load ran in
    notes: list[str] = Field(default_factory=list)
    shard: ShardInfo | None = None  # --shard, or a merge of shards


class BaselineDelta(_Model):
    metric: str
    stat: str
    kind: str
    baseline: float
    current: float
    regressed: bool


class BaselineComparison(_Model):
    baseline_started: str
    max_regression: float
    ok: bool
    deltas: list[BaselineDelta]
    notes: list[str] = Field(default_factory=list)


class SteadyLoad(_Model):
    """The stretch of the run whose load was constant: where drift is measured."""

    start: float  # seconds since the run started
    end: float
    load: str  # what ran at a constant level, e.g. "soak at 10 VUs"


class DriftWindow(_Model):
    start: float  # the span the window's whole timeline intervals cover, in seconds since the run started
    end: float


class DriftRow(_Model):
    """One measure compared between the first and the last window of steady load."""

    metric: str  # "http_req_duration", "mcp_tool_duration{tool:x}", "http_req_failed"
    stat: str  # "p(95)" (ms) or "rate" (a fraction)
    first: float | None
    last: float | None
    first_count: int  # samples (requests, for the rate) in each window
    last_count: int
    judged: bool
    drifted: bool = False
    note: str = ""  # why the row was not judged

    @property
    def change(self) -> float | None:
        """Relative change from the first window to the last; None when it cannot be said."""
        if self.first is None or self.last is None:
            return None
        if self.first == 0:
            return 0.0 if self.last == 0 else None
        return (self.last - self.first) / self.first


class Drift(_Model):
    judged: bool  # both windows were formed; rows say which measures had enough samples
    ok: bool  # no row drifted past the limit
    max_drift: float | None  # None: reported, not gated
    window_s: float | None = None
    steady: SteadyLoad | None = None
    first: DriftWindow | None = None
    last: DriftWindow | None = None
    rows: list[DriftRow] = Field(default_factory=list)
    note: str = ""  # why drift was not judged
    reason: str = ""  # the failure, when it drifted past the limit


class BreakpointFailure(_Model):
    kind: str  # "threshold", "errors", "dropped" or "idle"
    what: str
    value: float | None = None
    limit: float | None = None
    text: str


class BreakpointStep(_Model):
    """One step of a breakpoint search, judged on its own samples."""

    step: int  # 1-based
    level: float  # iterations/s, or VUs
    start_s: float
    duration_s: float  # the window judged
    held: bool
    partial: bool = False  # cut short: an abort_on_fail threshold failed on the step so far
    iterations: int
    throughput: float  # iterations completed per second
    requests: int
    rps: float
    p95_http_ms: float | None = None
    p95_tool_ms: float | None = None
    error_rate: float | None = None  # MCP steps not ok
    failed_rate: float | None = None  # http_req_failed
    dropped: int = 0
    scheduled: int | None = None  # arrival: iterations the schedule started in the step
    vus: int | None = None  # the most VUs active at a timeline point in the step
    failures: list[BreakpointFailure] = Field(default_factory=list)
    thresholds: list[ThresholdResult] = Field(default_factory=list)


class BreakpointResult(_Model):
    """The breakpoint search: the steps as judged, and where the server broke."""

    executor: Literal["arrival", "vus"]
    unit: str  # "iterations/s" or "VUs"
    start: float
    step: float
    max: float
    step_duration_s: float
    max_error_rate: float
    max_dropped_rate: float = 0.0
    max_vus: int = 0
    levels: list[float]
    breaking_point: float | None = None  # the level of the last step that held (None: none held)
    breaking_step: int | None = None  # that step (1-based)
    broken_step: int | None = None  # the first step that did not hold
    rate: float | None = None  # iterations/s at the breaking point: the level (arrival) or as measured (vus)
    found: bool = False  # a step broke after one held
    complete: bool = False  # a step broke, or every level held
    headline: str = ""  # "120 iterations/s", "not reached up to 200 iterations/s", "below 10 iterations/s"
    reason: str = ""
    min_breaking_point: float | None = None
    gate_ok: bool | None = None
    steps: list[BreakpointStep] = Field(default_factory=list)

    def show(self, level: float, *, short: bool = False) -> str:
        """``120 iterations/s`` (``120/s`` short), ``40 VUs``, ``1 VU``."""
        if self.executor == "arrival":
            return f"{level:g}/s" if short else f"{level:g} iterations/s"
        return f"{level:g} VU" + ("" if level == 1 else "s")

    def ladder(self) -> str:
        """``arrival rate 10 to 200 iterations/s, +10 every 30s (20 steps)``."""
        kind = "arrival rate" if self.executor == "arrival" else "VUs"
        top = self.levels[-1] if self.levels else self.max
        steps = len(self.levels)
        climb = f", +{self.step:g} every {format_duration(self.step_duration_s)}" if steps > 1 else ""
        return f"{kind} {self.start:g} to {self.show(top)}{climb} ({steps} step{'s' if steps != 1 else ''})"

    def limits(self) -> str:
        """What breaks a step besides the thresholds."""
        text = f"failed requests or MCP steps above {_percent(self.max_error_rate)}"
        if self.executor == "arrival":
            dropped = "any" if self.max_dropped_rate == 0 else f"more than {_percent(self.max_dropped_rate)}"
            text += f", {dropped} dropped iterations (up to {self.max_vus:,} VUs)"
        return text

    def row(self, number: int | None) -> BreakpointStep | None:
        return next((s for s in self.steps if s.step == number), None)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


class Results(_Model):
    schema_id: str = Field(SCHEMA, alias="schema")
    run: RunInfo
    target: TargetInfo
    scenarios: list[ScenarioInfo] = Field(default_factory=list)
    thresholds: list[ThresholdResult] = Field(default_factory=list)
    metrics: dict[str, MetricEntry] = Field(default_factory=dict)
    phases: list[Latency] = Field(default_factory=list)
    tools: list[Latency] = Field(default_factory=list)
    errors: list[ErrorClass] = Field(default_factory=list)
    preflight: list[dict[str, Any]] = Field(default_factory=list)
    timeseries: Timeseries | None = None
    baseline: BaselineComparison | None = None
    drift: Drift | None = None
    series: list[SeriesEntry] = Field(default_factory=list)
    breakpoint: BreakpointResult | None = None

    @property
    def passed(self) -> bool:
        return self.run.status == "passed"

    def metric(self, key: str, stat: str) -> float | None:
        entry = self.metrics.get(key)
        return entry.values.get(stat) if entry is not None else None


# -- building ---------------------------------------------------------------------------


def metric_entries(metrics: Metrics, extra_keys: Iterable[tuple[str, Tags]] = ()) -> dict[str, MetricEntry]:
    """Totals per metric, the standard sub-metrics, and any sub-metric a threshold named."""
    metrics.flush()
    wanted: dict[str, tuple[str, Tags]] = {}
    scenarios = {v for (_, tags) in metrics.series for k, v in tags if k == "scenario"}
    for name, tags in list(metrics.series):
        wanted.setdefault(name, (name, ()))
        tag_map = dict(tags)
        for tag in _SUBMETRIC_TAGS.get(name, ()):
            if tag in tag_map:
                sub: Tags = ((tag, tag_map[tag]),)
                wanted.setdefault(format_key(name, sub), (name, sub))
        if len(scenarios) > 1 and "scenario" in tag_map:
            sub = (("scenario", tag_map["scenario"]),)
            wanted.setdefault(format_key(name, sub), (name, sub))
    for name, tags in extra_keys:
        wanted.setdefault(format_key(name, tags), (name, tags))
    entries: dict[str, MetricEntry] = {}
    for key, (name, tags) in sorted(wanted.items()):
        entry = _entry(metrics, name, tags)
        if entry is not None:
            entries[key] = entry
    return entries


def _entry(metrics: Metrics, name: str, tags: Tags) -> MetricEntry | None:
    info = BUILTIN.get(name)
    series = list(metrics.matching(name, tags))
    if not series:
        return None
    kind = info.type if info is not None else kind_of_series(series[0])
    unit = info.unit if info is not None else ""
    if kind is MetricType.TREND:
        snap = metrics.trend_snapshot(name, tags)
        if snap is None:
            return None
        return MetricEntry(type=kind, unit=unit, values=trend_stats(snap), hdr=_encode(snap))
    if kind is MetricType.RATE:
        trues, total = metrics.rate_totals(name, tags)
        return MetricEntry(
            type=kind, values={"rate": trues / total if total else 0.0, "passes": trues, "fails": total - trues}
        )
    if kind is MetricType.COUNTER:
        count = metrics.counter_total(name, tags) or 0.0
        rate = count / metrics.elapsed if metrics.elapsed > 0 else 0.0
        return MetricEntry(type=kind, unit=unit, values={"count": count, "rate": rate})
    gauges = [s for s in series if isinstance(s, GaugeSeries)]
    return MetricEntry(
        type=kind,
        values={
            "value": sum(g.value for g in gauges),
            "min": min(g.min for g in gauges),
            "max": max(g.max for g in gauges),
        },
    )


def trend_stats(snap: TrendSnapshot) -> dict[str, float]:
    pct = snap.percentiles([50.0, 90.0, 95.0, 99.0])
    return {
        "count": float(snap.count),
        "avg": snap.avg,
        "min": snap.min,
        "med": pct[50.0],
        "max": snap.max,
        "p(90)": pct[90.0],
        "p(95)": pct[95.0],
        "p(99)": pct[99.0],
    }


def _encode(snap: TrendSnapshot) -> str:
    return str(snap.hist.encode().decode("ascii"))


def series_entries(metrics: Metrics) -> list[SeriesEntry]:
    out: list[SeriesEntry] = []
    for (name, tags), s in sorted(metrics.series.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        kind = kind_of_series(s)
        hdr = None
        if isinstance(s, TrendSeries):
            s.flush()
            values = {"count": float(s.count), "sum": s.sum, "min": _finite(s.min), "max": _finite(s.max)}
            hdr = _series_hdr(s) if s.count else None
        elif isinstance(s, RateSeries):
            values = {"trues": float(s.trues), "total": float(s.total)}
        elif isinstance(s, CounterSeries):
            values = {"count": s.value}
        else:
            values = {"value": s.value, "min": _finite(s.min), "max": _finite(s.max)}
        out.append(SeriesEntry(metric=name, tags=dict(tags), type=kind, values=values, hdr=hdr))
    return out


def _series_hdr(s: TrendSeries) -> str:
    """Every sample of the series: its total, and the interval the timeline has not folded in yet
    (a run that ends just after a tick keeps its last samples there)."""
    if s.interval is None or not s.interval.get_total_count():
        return str(s.hist.encode().decode("ascii"))
    whole = new_histogram()
    whole.add(s.hist)
    whole.add(s.interval)
    return str(whole.encode().decode("ascii"))


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


# A held stream's end is counted under the step that opened it, but is not that request's error.
_STREAM_ERRORS = ("mcp_errors_stream_closed", "mcp_errors_stream_stalled")
_REQUEST_ERRORS = tuple(n for n in BUILTIN if n.startswith("mcp_errors_") and n not in _STREAM_ERRORS)


def latency_table(metrics: Metrics, name: str, tag: str, order: Iterable[str] = ()) -> list[Latency]:
    """Rows of p50/p95/p99 per value of ``tag`` (methods, tools), with error counts."""
    values = sorted({value for (n, tags) in metrics.series if n == name for k, value in tags if k == tag})
    ranked = [v for v in order if v in values] + [v for v in values if v not in order]
    rows: list[Latency] = []
    for value in ranked:
        tags: Tags = ((tag, value),)
        snap = metrics.trend_snapshot(name, tags)
        if snap is None:
            continue
        pct = snap.percentiles([50.0, 95.0, 99.0])
        errors = sum((metrics.counter_total(counter, tags) or 0.0) for counter in _REQUEST_ERRORS)
        rows.append(
            Latency(
                name=value,
                count=snap.count,
                errors=round(errors),
                p50=pct[50.0],
                p95=pct[95.0],
                p99=pct[99.0],
                avg=snap.avg,
                max=snap.max,
            )
        )
    return rows


def error_classes(log: ErrorLog, redact: Redactor) -> list[ErrorClass]:
    classes: list[ErrorClass] = []
    for kind, count in log.counts.most_common():
        samples = [
            ErrorSample(reason=redact(reason), method=method, tool=redact(tool) if tool else None, count=n)
            for (reason, method, tool), n in (log.samples[kind].most_common() if kind in log.samples else [])
        ]
        classes.append(ErrorClass(kind=kind, count=count, samples=samples, other=log.other.get(kind, 0)))
    return classes


def threshold_results(verdicts: Iterable[Verdict], aborted_by: Verdict | None) -> list[ThresholdResult]:
    """The final verdicts; the one that aborted the run is shown as it stood when it did."""
    if aborted_by is not None:
        verdicts = [aborted_by if v.threshold == aborted_by.threshold else v for v in verdicts]
    return [
        ThresholdResult(
            metric=str(v.threshold.key),
            expression=v.threshold.source,
            aggregation=v.threshold.aggregation,
            ok=v.ok,
            value=v.observed,
            reason=v.reason,
            abort_on_fail=v.threshold.abort_on_fail,
            aborted_run=aborted_by is not None and aborted_by.threshold == v.threshold,
            allow_no_data=v.threshold.allow_no_data,
        )
        for v in verdicts
    ]


def breakpoint_section(
    plan: BreakpointPlan, steps: Sequence[StepResult], timeline: Timeline | None, redact: Redactor
) -> BreakpointResult:
    """The search as judged: every step's figures, and where the server broke."""
    conclusion = conclude(plan, steps)
    points = timeline.points if timeline is not None else []
    rows = []
    for step in steps:
        end = step.start + step.seconds
        active = [p.vus for p in points if step.start < p.t <= end + 1e-6]
        rows.append(
            BreakpointStep(
                step=step.index + 1,
                level=step.level,
                start_s=round(step.start, 3),
                duration_s=round(step.seconds, 3),
                held=step.held,
                partial=step.partial,
                iterations=step.iterations,
                throughput=round(step.throughput, 3),
                requests=step.requests,
                rps=round(step.rps, 3),
                p95_http_ms=step.p95_http,
                p95_tool_ms=step.p95_tool,
                error_rate=step.error_rate,
                failed_rate=step.failed_rate,
                dropped=step.dropped,
                scheduled=step.scheduled,
                vus=max(active) if active else None,
                failures=[
                    BreakpointFailure(
                        kind=f.kind, what=redact(f.what), value=f.observed, limit=f.limit, text=redact(f.text)
                    )
                    for f in step.failures
                ],
                thresholds=threshold_results(step.verdicts, None),
            )
        )
    held, broke = conclusion.held, conclusion.broke
    return BreakpointResult(
        executor="vus" if plan.executor == "vus" else "arrival",
        unit=plan.unit,
        start=plan.start,
        step=plan.step,
        max=plan.max,
        step_duration_s=plan.step_duration,
        max_error_rate=plan.max_error_rate,
        max_dropped_rate=plan.max_dropped_rate,
        max_vus=plan.max_vus,
        levels=list(plan.levels),
        breaking_point=held.level if held is not None else None,
        breaking_step=held.index + 1 if held is not None else None,
        broken_step=broke.index + 1 if broke is not None else None,
        rate=conclusion.rate(plan),
        found=conclusion.found,
        complete=conclusion.complete,
        headline=conclusion.headline,
        reason=redact(conclusion.reason),
        min_breaking_point=plan.min_breaking_point,
        gate_ok=conclusion.gate_ok,
        steps=rows,
    )


def timeseries(timeline: Timeline, interval: float) -> Timeseries:
    points = [
        TimelinePoint(
            t=round(p.t, 3),
            vus=p.vus,
            vus_max=p.vus_max,
            requests=p.requests,
            rps=round(p.rps, 3),
            failed=p.failed,
            errors=p.errors,
            iterations=p.iterations,
            dropped=p.dropped,
            p50=p.p50,
            p95=p.p95,
            p99=p.p99,
            tools=p.tools,
        )
        for p in timeline.points
    ]
    return Timeseries(interval_s=interval, points=points, hdr=timeline.encoded())


# -- files ------------------------------------------------------------------------------


def write(results: Results, path: Path) -> None:
    """Write atomically: a reader never sees half a file, even if the run is killed meanwhile."""
    data = orjson.dumps(results.model_dump(mode="json", by_alias=True), option=orjson.OPT_INDENT_2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data + b"\n")
    tmp.replace(path)


def read(path: Path) -> Results:
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"not an mcpgate results file (schema {found!r}, expected {SCHEMA!r})")
    return Results.model_validate(data)
