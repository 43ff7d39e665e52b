"""The shards' data added into one run's: exact, because each shard kept its HDR histograms.

Each shard (``mcpgate run --shard I/N``) wrote every series it measured with
its HDR histogram, and its timeline with each interval's histograms, so the
merge is exact: histograms add, counts, sums and rates add, and everything a
run derives from its metrics (the metric entries, the phase and tool tables)
is derived again from the merged metrics by the code a run uses. Percentiles
are the ones one process measuring every sample would report.

What is pure data lives here; the verdict on the merged metrics is
verdict.judge's, and app.merge puts the two together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from mcpgate.config.thresholds import Threshold, parse_threshold
from mcpgate.metrics.catalog import MetricType
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import GaugeSeries, Metrics, Tags, new_histogram
from mcpgate.results.build import error_classes, latency_table, metric_entries, series_entries
from mcpgate.results.schema import (
    PHASE_ORDER,
    ErrorClass,
    Results,
    RunInfo,
    SeriesEntry,
    ShardInfo,
    ShardRun,
    Status,
    TargetInfo,
    ThresholdResult,
    TimelinePoint,
    Timeseries,
)
from mcpgate.results.server import exercised, unexercised
from mcpgate.results.shards import ShardFile, missing_said, shard_info
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor


@dataclass
class Combined:
    """The checked shards' data added up: what the merged run's verdict and results are made of."""

    shards: list[ShardFile]  # in index order
    missing: list[int]
    info: ShardInfo  # the first shard's: the count and --start-at every shard shares
    duration: float  # seconds, from the shared start to the end of the last shard
    metrics: Metrics
    timeline: Timeseries | None
    thresholds: list[Threshold]
    aborted: set[tuple[str, str]]  # (metric, expression) of the thresholds that stopped a shard
    runs: list[ShardRun]
    warnings: list[str]  # also in the results' notes


def combine(shards: list[ShardFile], missing: list[int]) -> Combined:
    """The shards (as ``check`` returned them) added: series, gauges, timeline, thresholds."""
    info = shard_info(shards[0])
    warnings = _warnings(info, missing)
    duration = _duration(shards)
    metrics = _metrics(shards)
    metrics.elapsed = duration
    timeline = _timeline(shards, warnings)
    _gauges(metrics, shards, timeline)
    thresholds, aborted = _thresholds(shards)
    runs = [_shard_run(s) for s in shards]
    return Combined(shards, missing, info, duration, metrics, timeline, thresholds, aborted, runs, warnings)


def results_of(
    combined: Combined, status: Status, code: int, reason: str, thresholds: list[ThresholdResult]
) -> Results:
    """The merged run's results, given its verdict and its thresholds' results on the merged metrics."""
    shards, metrics = combined.shards, combined.metrics
    first = shards[0].results
    series = series_entries(metrics)
    return Results(
        run=_run_info(combined, status, code, reason),
        target=_target(shards, series),
        scenarios=first.scenarios,
        thresholds=_marked(thresholds, combined.aborted),
        metrics=metric_entries(metrics, [(t.key.name, t.key.tags) for t in combined.thresholds]),
        phases=latency_table(metrics, "http_req_duration", "method", PHASE_ORDER),
        tools=latency_table(metrics, "mcp_tool_duration", "tool"),
        errors=_errors(shards),
        preflight=next((s.results.preflight for s in shards if s.results.preflight), []),
        timeseries=combined.timeline,
        series=series,
        warnings=_unique(w for s in shards for w in s.results.warnings),
    )


def _target(shards: Sequence[ShardFile], series: list[SeriesEntry]) -> TargetInfo:
    """The server as a shard that reached it saw it; what went unexercised, judged over every shard's load."""
    target = next((s.results.target for s in shards if s.results.target.transport), shards[0].results.target)
    if not any(s.results.target.unexercised for s in shards):
        return target  # every shard's load exercised all it offered (or none ran): the merge cannot miss more
    return target.model_copy(update={"unexercised": unexercised(target.capabilities, exercised(series))})


def _run_info(combined: Combined, status: Status, code: int, reason: str) -> RunInfo:
    runs = [s.results.run for s in combined.shards]
    first, info = runs[0], combined.info
    return RunInfo(
        status=status,
        exit_code=code,
        reason=reason,
        started_at=min(r.started_at for r in runs),
        ended_at=max(r.ended_at for r in runs),
        duration_s=round(combined.duration, 3),
        profile=first.profile,
        source=first.source,
        config_digest=first.config_digest,
        mcpgate_version=first.mcpgate_version,
        interrupted_iterations=sum(r.interrupted_iterations for r in runs),
        workers=sum(r.workers for r in runs),
        notes=_unique([n for r in runs for n in r.notes] + combined.warnings),
        shard=ShardInfo(
            index=None,
            count=info.count,
            start_at=info.start_at,
            merged=[s.index for s in combined.shards],
            missing=combined.missing,
            runs=combined.runs,
        ),
    )


def _warnings(info: ShardInfo, missing: list[int]) -> list[str]:
    """What the merged results cannot claim: a missing shard's load, one shared clock for the timeline."""
    warnings: list[str] = []
    if missing:
        warnings.append(
            f"{missing_said(missing, info.count)}: these results hold only the other shards' part of the load"
        )
    if info.start_at is None and info.count > 1:
        warnings.append(
            "the shards did not share a --start-at: each timeline counts from its own shard's start, "
            "so the merged timeline adds points by offset, not by time"
        )
    return warnings


def _duration(shards: Sequence[ShardFile]) -> float:
    """The run lasted as long as its last shard, counted from the shared start (so with each shard's lag)."""
    runs = [s.results.run for s in shards]
    return max(r.duration_s + (r.shard.lag_s if r.shard else 0.0) for r in runs)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _shard_run(shard: ShardFile) -> ShardRun:
    run = shard.results.run
    return ShardRun(
        index=shard.index,
        status=run.status,
        exit_code=run.exit_code,
        reason=run.reason,
        started_at=run.started_at,
        duration_s=run.duration_s,
        workers=run.workers,
        lag_s=run.shard.lag_s if run.shard else 0.0,
    )


def _tags(raw: dict[str, str]) -> Tags:
    return tuple(sorted(raw.items()))


def _metrics(shards: Sequence[ShardFile]) -> Metrics:
    """Every series of every shard, added: histograms, counts, sums, extremes, rates and counters."""
    metrics = Metrics()
    for shard in shards:
        for entry in shard.results.series:
            tags, values = _tags(entry.tags), entry.values
            if entry.type is MetricType.TREND:
                trend = metrics.trend(entry.metric, tags)
                count = int(values.get("count", 0))
                if count:
                    if entry.hdr:
                        trend.hist.decode_and_add(entry.hdr)
                    trend.count += count
                    trend.sum += values.get("sum", 0.0)
                    trend.min = min(trend.min, values.get("min", math.inf))
                    trend.max = max(trend.max, values.get("max", -math.inf))
            elif entry.type is MetricType.RATE:
                rate = metrics.rate(entry.metric, tags)
                rate.trues += int(values.get("trues", 0))
                rate.total += int(values.get("total", 0))
            elif entry.type is MetricType.COUNTER:
                metrics.counter(entry.metric, tags).add(values.get("count", 0.0))
    return metrics


def _gauges(metrics: Metrics, shards: Sequence[ShardFile], timeline: Timeseries | None) -> None:
    """VU gauges: the shards' VUs add up at every moment, so the merged timeline's sums are the run's.

    A run sets its gauges at each timeline tick; the merged timeline's points are those ticks,
    summed over the shards. Without one, the shards' own values, minima and maxima are summed
    (the maxima then bound the peak from above: the shards' peaks may not have coincided).
    """
    sums: dict[tuple[str, Tags], GaugeSeries] = {}
    for shard in shards:
        for entry in shard.results.series:
            if entry.type is MetricType.GAUGE:
                key = (entry.metric, _tags(entry.tags))
                gauge = sums.setdefault(key, GaugeSeries(0.0, 0.0, 0.0))
                gauge.value += entry.values.get("value", 0.0)
                gauge.min += entry.values.get("min", 0.0)
                gauge.max += entry.values.get("max", 0.0)
    points = timeline.points if timeline is not None else []
    for (name, tags), gauge in sums.items():
        if points and not tags and name in ("vus", "vus_max"):
            seen = [float(getattr(p, name)) for p in points]
            gauge.min, gauge.max = min([*seen, gauge.value]), max([*seen, gauge.value])
        metrics.series[(name, tags)] = gauge


def _thresholds(shards: Sequence[ShardFile]) -> tuple[list[Threshold], set[tuple[str, str]]]:
    """The run's thresholds as the shards recorded them (one config: the same list in each that judged any)."""
    recorded: list[ThresholdResult] = next((s.results.thresholds for s in shards if s.results.thresholds), [])
    everywhere = [(s, t) for s in shards for t in s.results.thresholds]
    aborted = {(t.metric, t.expression) for _, t in everywhere if t.aborted_run}
    # Files that predate allow_no_data: a threshold that passed a shard with no data allowed it.
    allowed = {(t.metric, t.expression) for _, t in everywhere if t.allow_no_data or (t.ok and t.value is None)}
    thresholds: list[Threshold] = []
    for t in recorded:
        try:
            thresholds.append(
                parse_threshold(
                    t.metric,
                    t.expression,
                    abort_on_fail=t.abort_on_fail,
                    allow_no_data=(t.metric, t.expression) in allowed,
                )
            )
        except ValueError as exc:
            source = next(s.name for s, other in everywhere if other is t)
            raise UsageError(source, f"thresholds: {exc}") from None
    return thresholds, aborted


def _marked(results: list[ThresholdResult], aborted: set[tuple[str, str]]) -> list[ThresholdResult]:
    """A threshold that stopped a shard keeps saying so in the merged run."""
    return [r.model_copy(update={"aborted_run": True}) if (r.metric, r.expression) in aborted else r for r in results]


def _errors(shards: Sequence[ShardFile]) -> list[ErrorClass]:
    """Error classes with their counts added and their sample reasons merged (each shard's already masked)."""
    log = ErrorLog()
    for shard in shards:
        for error in shard.results.errors:
            log.counts[error.kind] += error.count
            log.other[error.kind] += error.other
            for sample in error.samples:
                log.add_samples(error.kind, sample.reason, sample.method, sample.tool, sample.count)
    return error_classes(log, Redactor())


# -- the timeline -------------------------------------------------------------------------

_Slot = list[tuple[Timeseries, int]]  # the shards' timelines with a point at one offset, and that point's index
_Hdrs = dict[str, list[str | None]]  # the merged timeline's interval histograms, by series


def _timeline(shards: Sequence[ShardFile], warnings: list[str]) -> Timeseries | None:
    """One point per interval: the shards' points at the same offset added, percentiles from their merged HDRs.

    A run's i-th point closes its i-th interval (at (i + 1) x interval, give or take the clock's
    tick; the last one where the run ended), so the shards' i-th points cover the same interval.
    """
    series = [s.results.timeseries for s in shards if s.results.timeseries is not None]
    if not series:
        return None
    interval = _interval(series, warnings)
    if interval is None:
        return None
    slots: dict[int, _Slot] = {}
    for ts in series:
        for i in range(len(ts.points)):
            slots.setdefault(i, []).append((ts, i))
    points: list[TimelinePoint] = []
    hdr: _Hdrs = {}
    previous = 0.0
    for slot in sorted(slots):
        merged = _point(slot, slots[slot], interval, previous)
        _percentiles(merged, slots[slot], hdr, len(points))
        previous = merged.t
        points.append(merged)
    return Timeseries(
        interval_s=interval,
        points=points,
        hdr={key: slots_ + [None] * (len(points) - len(slots_)) for key, slots_ in hdr.items()},
    )


def _interval(series: Sequence[Timeseries], warnings: list[str]) -> float | None:
    """The interval every shard's timeline shares; None, with a warning, when they differ."""
    intervals = sorted({t.interval_s for t in series})
    if len(intervals) > 1:
        shown = ", ".join(f"{i:g}s" for i in intervals)
        warnings.append(
            f"the shards' timelines have different intervals ({shown}; run every shard with the same --interval): "
            "the merged results have no timeline"
        )
        return None
    return intervals[0]


def _point(slot: int, members: _Slot, interval: float, previous: float) -> TimelinePoint:
    """The counts of one interval, added over the shards; its rate over the interval as merged."""
    at = [ts.points[i] for ts, i in members]
    t = round(min((slot + 1) * interval, max(p.t for p in at)), 3)
    seconds = t - previous
    return TimelinePoint(
        t=t,
        vus=sum(p.vus for p in at),
        vus_max=sum(p.vus_max for p in at),
        requests=sum(p.requests for p in at),
        rps=round(sum(p.requests for p in at) / seconds, 3) if seconds > 0 else 0.0,
        failed=sum(p.failed for p in at),
        errors=sum(p.errors for p in at),
        iterations=sum(p.iterations for p in at),
        dropped=sum(p.dropped for p in at),
    )


def _percentiles(merged: TimelinePoint, members: _Slot, hdr: _Hdrs, index: int) -> None:
    """The interval's latency and per-tool p95 from the shards' merged HDRs, which are kept for the file."""
    overall = _interval_hist(members, "http_req_duration")
    if overall is not None:
        stats = overall.get_percentile_to_value_dict([50.0, 95.0, 99.0])
        merged.p50, merged.p95, merged.p99 = (stats[p] / 1000.0 for p in (50.0, 95.0, 99.0))
        _keep(hdr, "http_req_duration", overall, index)
    at = [ts.points[i] for ts, i in members]
    for tool in sorted({tool for p in at for tool in p.tools}):
        hist = _interval_hist(members, f"mcp_tool_duration{{tool:{tool}}}")
        if hist is not None:
            merged.tools[tool] = (hist.get_total_count(), hist.get_value_at_percentile(95.0) / 1000.0)
            _keep(hdr, f"mcp_tool_duration{{tool:{tool}}}", hist, index)
        else:  # a file without interval histograms: the calls add, the worst p95 stands in
            calls = sum(p.tools[tool][0] for p in at if tool in p.tools)
            merged.tools[tool] = (calls, max(p.tools[tool][1] for p in at if tool in p.tools))


def _interval_hist(members: _Slot, key: str) -> HdrHistogram | None:
    merged: HdrHistogram | None = None
    for ts, i in members:
        encoded = ts.hdr.get(key)
        if encoded is None or i >= len(encoded) or encoded[i] is None:
            continue
        if merged is None:
            merged = new_histogram()
        merged.decode_and_add(encoded[i])
    return merged if merged is not None and merged.get_total_count() else None


def _keep(hdr: _Hdrs, key: str, hist: HdrHistogram, index: int) -> None:
    slots = hdr.setdefault(key, [])
    slots.extend([None] * (index - len(slots)))
    slots.append(hist.encode().decode("ascii"))
