"""The results file (``"schema": "mcpgate/results/v1"``): written by every run, read by every report.

Everything a report shows is in here, so ``mcpgate report`` can render any
saved run again, and every trend carries its HDR histogram (HdrHistogram's
standard compressed base64) so runs from several processes or machines can be
merged exactly later. Secrets never enter: every string that came from the
server or the config passes through the run's redactor first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from mcpgate.catalog import BUILTIN, MetricType
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
    series: list[SeriesEntry] = Field(default_factory=list)

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
            hdr = s.hist.encode().decode("ascii") if s.count else None
        elif isinstance(s, RateSeries):
            values = {"trues": float(s.trues), "total": float(s.total)}
        elif isinstance(s, CounterSeries):
            values = {"count": s.value}
        else:
            values = {"value": s.value, "min": _finite(s.min), "max": _finite(s.max)}
        out.append(SeriesEntry(metric=name, tags=dict(tags), type=kind, values=values, hdr=hdr))
    return out


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
        )
        for v in verdicts
    ]


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
