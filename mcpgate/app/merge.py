"""``mcpgate merge``: the results files of a run's shards, merged into the results of the run.

Each shard (``mcpgate run --shard I/N``) wrote every series it measured with
its HDR histogram, and its timeline with each interval's histograms, so the
merge is exact: histograms add, counts, sums and rates add, and everything a
run derives from its metrics (the metric entries, the phase and tool tables,
the thresholds, the verdict) is derived again from the merged metrics by the
code a run uses. Percentiles are the ones one process measuring every sample
would report.

The files must be the shards of one run: the same config (its digest), the
same shard count, the same ``--start-at`` (shards run without one must at
least have run at the same time), each index once. A missing shard is
an error (its part of the load was never measured, so a pass would claim a
load nobody sent) unless ``allow_missing`` merges what is there, with a warning
and a note. A shard that was aborted, interrupted, did not start or stopped on
an internal error makes the merged run so, with that shard named in the
reason; otherwise the thresholds, judged on the merged metrics, decide.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
import pydantic
from hdrh.histogram import HdrHistogram

from mcpgate.config.thresholds import Threshold, parse_threshold
from mcpgate.metrics.catalog import MetricType
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import GaugeSeries, Metrics, Tags, new_histogram
from mcpgate.results.build import error_classes, latency_table, metric_entries, series_entries
from mcpgate.results.io import read
from mcpgate.results.schema import (
    PHASE_ORDER,
    ErrorClass,
    Results,
    RunInfo,
    ShardInfo,
    ShardRun,
    Status,
    SteadyLoad,
    ThresholdResult,
    TimelinePoint,
    Timeseries,
)
from mcpgate.support import exitcodes
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor
from mcpgate.verdict.baseline import with_baseline
from mcpgate.verdict.drift import with_drift
from mcpgate.verdict.judge import threshold_verdict
from mcpgate.verdict.thresholds import Verdict, evaluate_all, threshold_results

# A shard in one of these states makes the merged run so, in this order (as a run's own verdict
# puts an internal error before an interrupt, and that before a run that never started).
_PRECEDENCE: tuple[Status, ...] = ("error", "interrupted", "not_started", "aborted")
_CODES: dict[Status, int] = {
    "error": exitcodes.INTERNAL_ERROR,
    "interrupted": exitcodes.INTERRUPTED,
    "aborted": exitcodes.THRESHOLDS_FAILED,
}
_SAID: dict[Status, str] = {
    "error": "stopped on an internal error",
    "interrupted": "was interrupted",
    "not_started": "did not start",
    "aborted": "was aborted",
}


@dataclass(frozen=True)
class ShardFile:
    """One shard's results file."""

    name: str  # the file, as the user gave it
    results: Results
    index: int  # run.shard.index


@dataclass
class Merged:
    results: Results
    warnings: list[str] = field(default_factory=list)  # also in the results' notes
    steady_known: bool = False  # the shards' files say what their steady load was (drift can be judged)
    steady: SteadyLoad | None = None


# -- the files ----------------------------------------------------------------------------


def expand(patterns: Sequence[str], *, base: Path | None = None, skip: Iterable[Path] = ()) -> list[Path]:
    """The files named, with glob patterns expanded (sorted), each once; ``skip`` leaves out our own outputs.

    A pattern is expanded by mcpgate itself, so a quoted ``'shards/*.json'`` works where no shell
    is there to expand it (a Kubernetes container's args, the action's input). With ``base``, every
    name is relative to it and must stay under it (the action's workspace).
    """
    root = base.resolve() if base is not None else None
    skipped = {p.resolve() for p in skip}
    found: list[Path] = []
    seen: set[Path] = set()
    for pattern in patterns:
        if root is not None and (Path(pattern).is_absolute() or ".." in Path(pattern).parts):
            raise UsageError(pattern, "must be a path under the workspace")
        literal = root / pattern if root is not None else Path(pattern)
        if _exists(literal, pattern):
            matches = [literal]
        elif glob.has_magic(pattern):
            names = sorted(glob.glob(pattern, root_dir=root, recursive=True))
            matches = [(root / n if root is not None else Path(n)) for n in names]
            matches = [m for m in matches if m.resolve() not in skipped and m.is_file()]
            if not matches:
                raise UsageError(pattern, "no results file matches")
        else:
            raise UsageError(pattern, "no such file")
        for path in matches:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    return found


def _exists(path: Path, shown: str) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError) as exc:  # a name the system refuses: too long, a NUL
        raise UsageError(shown, f"not a valid file name ({getattr(exc, 'strerror', None) or exc})") from None


def read_shard(path: Path, name: str | None = None) -> ShardFile:
    """One shard's results; any file that is not one is a one-line UsageError naming it."""
    shown = name or str(path)
    try:
        results = read(path)
    except FileNotFoundError:
        raise UsageError(shown, "no such file") from None
    except IsADirectoryError:
        raise UsageError(shown, "is a directory") from None
    except OSError as exc:
        raise UsageError(shown, f"cannot read it: {exc.strerror or exc}") from None
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise UsageError(shown, f"not a valid results file ({where}: {first['msg']})") from None
    except orjson.JSONDecodeError as exc:
        raise UsageError(shown, f"not JSON ({exc.args[0] if exc.args else exc})") from None
    except ValueError as exc:  # the schema is not ours
        raise UsageError(shown, str(exc).splitlines()[0]) from None
    shard = results.run.shard
    if shard is None:
        raise UsageError(shown, "is not a shard's results (it was run without --shard I/N)")
    if shard.index is None:
        held = ", ".join(str(i) for i in shard.merged)
        raise UsageError(shown, f"is already a merge (of shards {held}); merge the shards' own files")
    return ShardFile(shown, results, shard.index)


def merge_files(paths: Sequence[Path], *, allow_missing: bool = False) -> Merged:
    return merge([read_shard(p) for p in paths], allow_missing=allow_missing)


def check(shards: Sequence[ShardFile], *, allow_missing: bool = False) -> tuple[list[ShardFile], list[int]]:
    """The shards in index order, and the indices missing; UsageError unless they are the shards of one run."""
    if not shards:
        raise UsageError("merge", "no results files given")
    first = shards[0]
    info = _info(first)
    for other in shards[1:]:
        theirs = _info(other)
        if theirs.count != info.count:
            raise UsageError(
                "merge",
                f"not shards of one run: {first.name} is shard {info.index}/{info.count}, "
                f"{other.name} is shard {theirs.index}/{theirs.count}",
            )
        mine, digest = first.results.run.config_digest, other.results.run.config_digest
        if digest != mine:
            raise UsageError(
                "merge",
                f"not shards of one run: {first.name} and {other.name} ran different configs ({mine}, {digest})",
            )
        if theirs.start_at != info.start_at:
            raise UsageError(
                "merge",
                f"not shards of one run: {first.name} started its load at {info.start_at or 'no --start-at'}, "
                f"{other.name} at {theirs.start_at or 'no --start-at'}",
            )
    if info.start_at is None:
        _overlapping(shards)
    by_index: dict[int, ShardFile] = {}
    for shard in shards:
        if shard.index in by_index:
            twin = by_index[shard.index]
            raise UsageError("merge", f"shard {shard.index}/{info.count} is given twice: {twin.name} and {shard.name}")
        by_index[shard.index] = shard
    missing = [i for i in range(info.count) if i not in by_index]
    if missing and not allow_missing:
        given = ", ".join(str(i) for i in sorted(by_index))
        raise UsageError(
            "merge",
            f"{_missing(missing, info.count)} (given: {given}): merge every shard's file, or pass "
            "--allow-missing to merge what is there",
        )
    return [by_index[i] for i in sorted(by_index)], missing


def _overlapping(shards: Sequence[ShardFile]) -> None:
    """Shards without a shared start must at least have run at the same time, or they are two runs."""
    spans: list[tuple[float, float, ShardFile]] = []
    for shard in shards:
        start, end = _when(shard.results.run.started_at), _when(shard.results.run.ended_at)
        if start is None or end is None:
            return
        spans.append((start, end, shard))
    ended = min(spans, key=lambda span: span[1])  # the shard that ended first
    started = max(spans, key=lambda span: span[0])  # the shard that started last
    if started[0] > ended[1]:
        a, b = ended[2], started[2]
        raise UsageError(
            "merge",
            f"not shards of one run: {a.name} ended ({a.results.run.ended_at}) before {b.name} started "
            f"({b.results.run.started_at})",
        )


def _when(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _info(shard: ShardFile) -> ShardInfo:
    assert shard.results.run.shard is not None
    return shard.results.run.shard


def _missing(indices: Sequence[int], count: int) -> str:
    """``shard 2 of 3 is missing`` / ``shards 1, 2 of 3 are missing``."""
    listed = ", ".join(str(i) for i in indices)
    return f"shard {listed} of {count} is missing" if len(indices) == 1 else f"shards {listed} of {count} are missing"


# -- the merge ----------------------------------------------------------------------------


def merge(given: Sequence[ShardFile], *, allow_missing: bool = False) -> Merged:
    """The run whose shards these are, as one results file; the inputs are checked first (``check``)."""
    shards, missing = check(given, allow_missing=allow_missing)
    info = _info(shards[0])
    warnings: list[str] = []
    if missing:
        warnings.append(f"{_missing(missing, info.count)}: these results hold only the other shards' part of the load")
    if info.start_at is None and info.count > 1:
        warnings.append(
            "the shards did not share a --start-at: each timeline counts from its own shard's start, "
            "so the merged timeline adds points by offset, not by time"
        )
    runs = [s.results.run for s in shards]
    duration = max(r.duration_s + (r.shard.lag_s if r.shard else 0.0) for r in runs)
    metrics = _metrics(shards)
    metrics.elapsed = duration
    timeline = _timeline(shards, warnings)
    _gauges(metrics, shards, timeline)
    thresholds, aborted = _thresholds(shards)
    verdicts = evaluate_all(thresholds, metrics.observe)
    status, code, reason = _verdict(shards, verdicts)
    first = shards[0].results
    notes = _unique([n for r in runs for n in r.notes] + warnings)
    results = Results(
        run=RunInfo(
            status=status,
            exit_code=code,
            reason=reason,
            started_at=min(r.started_at for r in runs),
            ended_at=max(r.ended_at for r in runs),
            duration_s=round(duration, 3),
            profile=first.run.profile,
            source=first.run.source,
            config_digest=first.run.config_digest,
            mcpgate_version=first.run.mcpgate_version,
            interrupted_iterations=sum(r.interrupted_iterations for r in runs),
            workers=sum(r.workers for r in runs),
            notes=notes,
            shard=ShardInfo(
                index=None,
                count=info.count,
                start_at=info.start_at,
                merged=[s.index for s in shards],
                missing=missing,
                runs=[_shard_run(s) for s in shards],
            ),
        ),
        target=next((s.results.target for s in shards if s.results.target.transport), first.target),
        scenarios=first.scenarios,
        thresholds=_marked(threshold_results(verdicts, None), aborted),
        metrics=metric_entries(metrics, [(t.key.name, t.key.tags) for t in thresholds]),
        phases=latency_table(metrics, "http_req_duration", "method", PHASE_ORDER),
        tools=latency_table(metrics, "mcp_tool_duration", "tool"),
        errors=_errors(shards),
        preflight=next((s.results.preflight for s in shards if s.results.preflight), []),
        timeseries=timeline,
        series=series_entries(metrics),
    )
    judged = [s.results.drift for s in shards if s.results.drift is not None]
    steady = judged[0].steady if judged else None
    return Merged(results, warnings, steady_known=bool(judged), steady=steady)


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


def _verdict(shards: Sequence[ShardFile], verdicts: Sequence[Verdict]) -> tuple[Status, int, str]:
    count = _info(shards[0]).count
    for status in _PRECEDENCE:
        hit = [s for s in shards if s.results.run.status == status]
        if not hit:
            continue
        first = hit[0].results.run
        code = _CODES.get(status, first.exit_code)
        if len(hit) == 1:
            said = f"shard {hit[0].index}/{count} {_SAID[status]}" + (f": {first.reason}" if first.reason else "")
        else:
            names = ", ".join(str(s.index) for s in hit)
            said = f"shards {names} of {count} {_SAID[status].replace('was ', 'were ')}"
            said += f" (shard {hit[0].index}: {first.reason})" if first.reason else ""
        return status, code, said
    return threshold_verdict(list(verdicts))


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


def _timeline(shards: Sequence[ShardFile], warnings: list[str]) -> Timeseries | None:
    """One point per interval: the shards' points at the same offset added, percentiles from their merged HDRs.

    A run's i-th point closes its i-th interval (at (i + 1) x interval, give or take the clock's
    tick; the last one where the run ended), so the shards' i-th points cover the same interval.
    """
    series = [s.results.timeseries for s in shards if s.results.timeseries is not None]
    if not series:
        return None
    intervals = sorted({t.interval_s for t in series})
    if len(intervals) > 1:
        shown = ", ".join(f"{i:g}s" for i in intervals)
        warnings.append(
            f"the shards' timelines have different intervals ({shown}; run every shard with the same --interval): "
            "the merged results have no timeline"
        )
        return None
    interval = intervals[0]
    slots: dict[int, list[tuple[Timeseries, int]]] = {}
    for ts in series:
        for i in range(len(ts.points)):
            slots.setdefault(i, []).append((ts, i))
    points: list[TimelinePoint] = []
    hdr: dict[str, list[str | None]] = {}
    previous = 0.0
    for slot in sorted(slots):
        members = slots[slot]
        at = [ts.points[i] for ts, i in members]
        t = round(min((slot + 1) * interval, max(p.t for p in at)), 3)
        seconds = t - previous
        previous = t
        merged = TimelinePoint(
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
        index = len(points)
        overall = _interval_hist(members, "http_req_duration")
        if overall is not None:
            stats = overall.get_percentile_to_value_dict([50.0, 95.0, 99.0])
            merged.p50, merged.p95, merged.p99 = (stats[p] / 1000.0 for p in (50.0, 95.0, 99.0))
            _keep(hdr, "http_req_duration", overall, index)
        tools = sorted({tool for p in at for tool in p.tools})
        for tool in tools:
            hist = _interval_hist(members, f"mcp_tool_duration{{tool:{tool}}}")
            if hist is not None:
                merged.tools[tool] = (hist.get_total_count(), hist.get_value_at_percentile(95.0) / 1000.0)
                _keep(hdr, f"mcp_tool_duration{{tool:{tool}}}", hist, index)
            else:  # a file without interval histograms: the calls add, the worst p95 stands in
                calls = sum(p.tools[tool][0] for p in at if tool in p.tools)
                merged.tools[tool] = (calls, max(p.tools[tool][1] for p in at if tool in p.tools))
        points.append(merged)
    return Timeseries(
        interval_s=interval,
        points=points,
        hdr={key: slots_ + [None] * (len(points) - len(slots_)) for key, slots_ in hdr.items()},
    )


def _interval_hist(members: Sequence[tuple[Timeseries, int]], key: str) -> HdrHistogram | None:
    merged: HdrHistogram | None = None
    for ts, i in members:
        encoded = ts.hdr.get(key)
        if encoded is None or i >= len(encoded) or encoded[i] is None:
            continue
        if merged is None:
            merged = new_histogram()
        merged.decode_and_add(encoded[i])
    return merged if merged is not None and merged.get_total_count() else None


def _keep(hdr: dict[str, list[str | None]], key: str, hist: HdrHistogram, index: int) -> None:
    slots = hdr.setdefault(key, [])
    slots.extend([None] * (index - len(slots)))
    slots.append(hist.encode().decode("ascii"))


# -- the verb -----------------------------------------------------------------------------


def judged(
    merged: Merged,
    *,
    baseline: Results | None,
    max_regression: float,
    max_drift: float | None,
    window: float | None,
) -> Results:
    """The merged run judged as a run is after its thresholds: against a baseline, then for drift on the
    merged timeline over the steady load every shard ran (the same plan's)."""

    results = merged.results
    if baseline is not None:
        results = with_baseline(results, baseline, max_regression)
    if merged.steady_known:
        results = with_drift(results, merged.steady, max_drift=max_drift, window=window)
    return results
