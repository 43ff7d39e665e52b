"""Samples -> series: HDR histograms for trends, exact tallies for rates, counters and gauges.

A series is one metric with one full tag set (``mcp_tool_duration`` with
``scenario=load, tool=get_record``). A query for a sub-metric merges every
series whose tags include the query's, so ``{tool:get_record}`` spans all
scenarios. Trend percentiles come from HdrHistogram (3 significant digits:
0.1% precision) in microseconds: memory stays bounded whatever the request
count, and histograms merge exactly across processes and machines.

The hot path is cheap on purpose: ``TrendSeries.add`` appends an int to a
list; values reach a histogram in batches (``flush``), bucketed with
HdrHistogram's own index arithmetic inline. A series the timeline tracks
records into its interval histogram only; each tick folds that into the
total with one C-level add, so no value is bucketed twice.

A window (``open_window``) is a second Metrics that every sample also goes
to until the window is taken: each series hands its samples to its twin
there. Swapping windows is one pass over the series between two samples,
so every sample lands in exactly one window (a breakpoint step's own metrics).
"""

from __future__ import annotations

import ctypes
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from mcpgate.metrics.catalog import BUILTIN, MetricType
from mcpgate.metrics.keys import MetricKey

Tags = tuple[tuple[str, str], ...]  # sorted by tag name

HDR_LOWEST_US = 1
HDR_HIGHEST_US = 3_600_000_000  # one hour
HDR_DIGITS = 3
FLUSH_AT = 8192  # pending samples per series before they go into a histogram

TREND_PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)


def record_batch(hist: HdrHistogram, values: list[int]) -> None:
    """``record_value`` for many values at once: the same buckets, a third of the cost.

    The index arithmetic is HdrHistogram's (``_counts_index_for``); the
    running min, max and total are kept the way ``record_value`` keeps them.
    """
    counts = hist.counts
    mask, unit, half_mag = hist.sub_bucket_mask, hist.unit_magnitude, hist.sub_bucket_half_count_magnitude
    half = hist.sub_bucket_half_count
    shift = unit + half_mag + 1
    for value in values:
        bucket = (value | mask).bit_length() - shift
        counts[((bucket + 1) << half_mag) + (value >> (bucket + unit)) - half] += 1
    hist.total_count += len(values)
    low, high = min(values), max(values)
    hist.min_value = min(hist.min_value, low)
    hist.max_value = max(hist.max_value, high)


def clear_histogram(hist: HdrHistogram) -> None:
    """``reset`` without its Python loop over 23k counters: one memset of the counts array."""
    ctypes.memset(hist.counts, 0, ctypes.sizeof(hist.counts))
    hist.total_count = 0
    hist.min_value = sys.maxsize
    hist.max_value = 0
    hist.start_time_stamp_msec = sys.maxsize
    hist.end_time_stamp_msec = 0


def tags_of(**tags: str | None) -> Tags:
    return tuple(sorted((k, v) for k, v in tags.items() if v is not None))


def format_key(name: str, tags: Tags) -> str:
    if not tags:
        return name
    return name + "{" + ",".join(f"{k}:{v}" for k, v in tags) + "}"


class TrendSeries:
    """Milliseconds in, HDR histogram (in µs) plus exact count, sum, min and max."""

    __slots__ = ("count", "hist", "interval", "max", "min", "pending", "sum", "window")

    def __init__(self, *, track_interval: bool = False) -> None:
        self.hist = new_histogram()  # everything before the current interval (all of it, if untracked)
        self.interval: HdrHistogram | None = new_histogram() if track_interval else None
        self.pending: list[int] = []
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.window: TrendSeries | None = None  # the twin in an open window

    def add(self, ms: float) -> None:
        if self.window is not None:
            self.window.add(ms)
        self.count += 1
        self.sum += ms
        self.min = min(self.min, ms)
        self.max = max(self.max, ms)
        pending = self.pending
        micros = int(ms * 1000.0)
        pending.append(micros if 0 < micros <= HDR_HIGHEST_US else (1 if micros < 1 else HDR_HIGHEST_US))
        if len(pending) >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            record_batch(self.interval if self.interval is not None else self.hist, self.pending)
            self.pending.clear()

    def fold(self) -> None:
        """Close the interval: its histogram joins the total and starts empty."""
        self.flush()
        if self.interval is not None and self.interval.get_total_count():
            self.hist.add(self.interval)
            clear_histogram(self.interval)


@dataclass(slots=True)
class RateSeries:
    """A fraction: how many samples were true (k6's Rate)."""

    trues: int = 0
    total: int = 0
    window: RateSeries | None = field(default=None, repr=False, compare=False)

    def add(self, value: bool) -> None:
        if self.window is not None:
            self.window.add(value)
        self.total += 1
        if value:
            self.trues += 1


@dataclass(slots=True)
class CounterSeries:
    value: float = 0.0
    window: CounterSeries | None = field(default=None, repr=False, compare=False)

    def add(self, amount: float = 1.0) -> None:
        if self.window is not None:
            self.window.add(amount)
        self.value += amount


@dataclass(slots=True)
class GaugeSeries:
    value: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    window: GaugeSeries | None = field(default=None, repr=False, compare=False)

    def set(self, value: float) -> None:
        if self.window is not None:
            self.window.set(value)
        self.value = value
        self.min = min(self.min, value)
        self.max = max(self.max, value)


Series = TrendSeries | RateSeries | CounterSeries | GaugeSeries


@dataclass(slots=True)
class TrendSnapshot:
    """A merged view of trend series: what thresholds and reports read."""

    hist: HdrHistogram
    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def merge(self, series: TrendSeries) -> None:
        series.flush()
        if series.hist.get_total_count():
            self.hist.add(series.hist)
        if series.interval is not None and series.interval.get_total_count():
            self.hist.add(series.interval)
        self.count += series.count
        self.sum += series.sum
        self.min = min(self.min, series.min)
        self.max = max(self.max, series.max)

    def percentile(self, p: float) -> float:
        if p >= 100:
            return self.max
        # HDR answers with the highest value equivalent to the bucket: never below the true value.
        return min(float(self.hist.get_value_at_percentile(p)) / 1000.0, self.max)

    def percentiles(self, ps: Iterable[float]) -> dict[float, float]:
        wanted = list(ps)
        raw = self.hist.get_percentile_to_value_dict(wanted) if self.count else {}
        return {p: min(raw.get(p, 0) / 1000.0, self.max) if p < 100 else self.max for p in wanted}

    @property
    def avg(self) -> float:
        return self.sum / self.count if self.count else 0.0


@dataclass
class Metrics:
    """All series of a run, and the queries thresholds and reports make of them."""

    series: dict[tuple[str, Tags], Series] = field(default_factory=dict)
    elapsed: float = 0.0  # seconds the run has lasted, for counter rates
    window: Metrics | None = field(default=None, repr=False)  # where every sample also goes, when open

    def _get(self, name: str, tags: Tags, kind: type[Series], *, track_interval: bool = False) -> Series:
        key = (name, tags)
        found = self.series.get(key)
        if found is None:
            found = TrendSeries(track_interval=track_interval) if kind is TrendSeries else kind()
            self.series[key] = found
            if self.window is not None:
                _link(found, self.window._twin(key, found))
        return found

    # -- windows -------------------------------------------------------------------------

    def open_window(self) -> Metrics:
        """From now on every sample also goes to the returned Metrics (until taken or closed)."""
        window = self.empty_like()
        for key, series in self.series.items():
            _link(series, window.series[key])
        self.window = window
        return window

    def take_window(self) -> Metrics:
        """The window so far; the next sample goes to a new one. Nothing is lost or counted twice."""
        taken = self.close_window() or Metrics()
        self.open_window()
        return taken

    def close_window(self) -> Metrics | None:
        """Stop copying samples; the window so far, if one was open."""
        window, self.window = self.window, None
        for series in self.series.values():
            _link(series, None)
        return window

    def empty_like(self) -> Metrics:
        """A Metrics with an empty twin of every series: a counter never incremented counts 0, not "no data"."""
        empty = Metrics()
        for key, series in self.series.items():
            empty._twin(key, series)
        return empty

    def _twin(self, key: tuple[str, Tags], series: Series) -> Series:
        twin: Series = TrendSeries() if isinstance(series, TrendSeries) else type(series)()
        self.series[key] = twin
        return twin

    def trend(self, name: str, tags: Tags = (), *, track_interval: bool = False) -> TrendSeries:
        found = self._get(name, tags, TrendSeries, track_interval=track_interval)
        assert isinstance(found, TrendSeries)
        return found

    def rate(self, name: str, tags: Tags = ()) -> RateSeries:
        found = self._get(name, tags, RateSeries)
        assert isinstance(found, RateSeries)
        return found

    def counter(self, name: str, tags: Tags = ()) -> CounterSeries:
        found = self._get(name, tags, CounterSeries)
        assert isinstance(found, CounterSeries)
        return found

    def gauge(self, name: str, tags: Tags = ()) -> GaugeSeries:
        found = self._get(name, tags, GaugeSeries)
        assert isinstance(found, GaugeSeries)
        return found

    def flush(self) -> None:
        for s in self.series.values():
            if isinstance(s, TrendSeries):
                s.flush()

    # -- queries -------------------------------------------------------------------------

    def matching(self, name: str, tags: Tags = ()) -> Iterator[Series]:
        wanted = set(tags)
        for (n, t), s in self.series.items():
            if n == name and wanted.issubset(t):
                yield s

    def trend_snapshot(self, name: str, tags: Tags = ()) -> TrendSnapshot | None:
        snap = TrendSnapshot(new_histogram())
        for s in self.matching(name, tags):
            if isinstance(s, TrendSeries):
                snap.merge(s)
        return snap if snap.count else None

    def rate_totals(self, name: str, tags: Tags = ()) -> tuple[int, int]:
        trues = total = 0
        for s in self.matching(name, tags):
            if isinstance(s, RateSeries):
                trues += s.trues
                total += s.total
        return trues, total

    def counter_total(self, name: str, tags: Tags = ()) -> float | None:
        found = [s.value for s in self.matching(name, tags) if isinstance(s, CounterSeries)]
        return sum(found) if found else None

    def aggregate(self, name: str, tags: Tags, aggregation: str) -> float | None:
        """One number for a threshold, or None when the metric has no samples (k6 semantics)."""
        info = BUILTIN.get(name)
        kind = info.type if info is not None else self._kind_of(name)
        if kind is MetricType.TREND:
            snap = self.trend_snapshot(name, tags)
            if snap is None:
                return None
            return trend_value(snap, aggregation)
        if kind is MetricType.RATE:
            trues, total = self.rate_totals(name, tags)
            return trues / total if total else None
        if kind is MetricType.COUNTER:
            count = self.counter_total(name, tags)
            if count is None:
                return None
            if aggregation == "rate":  # k6: a counter's rate is per second
                return count / self.elapsed if self.elapsed > 0 else 0.0
            return count
        if kind is MetricType.GAUGE:
            gauges = [s for s in self.matching(name, tags) if isinstance(s, GaugeSeries)]
            if not gauges:
                return None
            if aggregation == "min":
                return min(g.min for g in gauges)
            if aggregation == "max":
                return max(g.max for g in gauges)
            return sum(g.value for g in gauges)
        return None

    def observe(self, key: MetricKey, aggregation: str) -> float | None:
        """``aggregate`` in the shape thresholds.evaluate asks for."""
        return self.aggregate(key.name, key.tags, aggregation)

    def _kind_of(self, name: str) -> MetricType | None:
        for (n, _), s in self.series.items():
            if n == name:
                return _TYPES[type(s)]
        return None


def _link(series: Series, twin: Series | None) -> None:
    """Send ``series``' samples on to ``twin`` as well (None: to no window)."""
    if isinstance(series, TrendSeries):
        series.window = twin if isinstance(twin, TrendSeries) else None
    elif isinstance(series, RateSeries):
        series.window = twin if isinstance(twin, RateSeries) else None
    elif isinstance(series, CounterSeries):
        series.window = twin if isinstance(twin, CounterSeries) else None
    else:
        series.window = twin if isinstance(twin, GaugeSeries) else None


_TYPES: dict[type, MetricType] = {
    TrendSeries: MetricType.TREND,
    RateSeries: MetricType.RATE,
    CounterSeries: MetricType.COUNTER,
    GaugeSeries: MetricType.GAUGE,
}


def trend_value(snap: TrendSnapshot, aggregation: str) -> float:
    if aggregation == "avg":
        return snap.avg
    if aggregation == "min":
        return snap.min
    if aggregation == "max":
        return snap.max
    if aggregation == "count":
        return float(snap.count)
    if aggregation == "med":
        return snap.percentile(50.0)
    if aggregation.startswith("p(") and aggregation.endswith(")"):
        return snap.percentile(float(aggregation[2:-1]))
    raise ValueError(f"unknown trend aggregation {aggregation!r}")


def kind_of_series(series: Series) -> MetricType:
    return _TYPES[type(series)]
