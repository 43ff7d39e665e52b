"""Results built from a run's metrics: metric entries, latency tables, error classes, the timeline.

A run builds them from its live metrics, and a merge from the shards' merged
metrics, with the same functions, so the two say the same thing about the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from mcpgate.metrics.catalog import BUILTIN, MetricType
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import (
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
from mcpgate.metrics.timeline import Timeline
from mcpgate.results.schema import (
    ErrorClass,
    ErrorSample,
    Latency,
    MetricEntry,
    SeriesEntry,
    TimelinePoint,
    Timeseries,
)
from mcpgate.support.redact import Redactor

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
    "mcp_server_request_duration": ("method",),
    "mcp_method_duration": ("method",),
    "mcp_progress_notifications": ("tool",),
    "mcp_cancelled": ("method",),
    "mcp_task_duration": ("tool",),
}


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
