"""What a worker process reports to its coordinator: every sample since its last report, exactly.

Trends travel as their count, sum, min, max and HDR histogram (encoded, as the
results file keeps them), so the coordinator's percentiles are the ones a single
process would have computed; rates and counters as their increments; error
samples with their counts. Taking a delta empties the worker's series, so no
sample is sent twice. Gauges are not sent: the coordinator sets its own from the
workers' VU counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import CounterSeries, Metrics, RateSeries, Tags, TrendSeries, clear_histogram

Delta = dict[str, Any]  # JSON-ready


class DeltaTaker:
    """Empties a worker's metrics and error log into deltas; announces every series once, even empty."""

    def __init__(self, metrics: Metrics, errors: ErrorLog, redact: Callable[[str], str] = str) -> None:
        self._metrics = metrics
        self._errors = errors
        self._redact = redact  # a worker's own: it knows the access tokens the worker was issued
        self._announced: set[tuple[str, Tags]] = set()

    def take(self) -> Delta:
        series: list[list[Any]] = []
        for key, s in self._metrics.series.items():
            name, tags = key
            new = key not in self._announced
            if isinstance(s, TrendSeries):
                s.flush()
                if s.count or new:
                    series.append(["t", name, tags, s.interval is not None, *_take_trend(s)])
            elif isinstance(s, RateSeries):
                if s.total or new:
                    series.append(["r", name, tags, s.trues, s.total])
                    s.trues = s.total = 0
            elif isinstance(s, CounterSeries):
                if s.value or new:
                    series.append(["c", name, tags, s.value])
                    s.value = 0.0
            else:
                continue
            self._announced.add(key)
        return {"series": series, "errors": _take_errors(self._errors, self._redact)}


def _take_trend(s: TrendSeries) -> list[Any]:
    hist = s.hist
    if s.interval is not None and s.interval.get_total_count():
        hist.add(s.interval)
        clear_histogram(s.interval)
    encoded = hist.encode().decode("ascii") if hist.get_total_count() else None
    taken = [s.count, s.sum, s.min if s.count else None, s.max if s.count else None, encoded]
    clear_histogram(hist)
    s.count, s.sum = 0, 0.0
    s.min, s.max = float("inf"), float("-inf")
    return taken


def _take_errors(errors: ErrorLog, redact: Callable[[str], str]) -> Delta:
    samples = errors.samples.items()
    taken = {
        "counts": dict(errors.counts),
        "samples": [[kind, redact(reason), *rest, n] for kind, seen in samples for (reason, *rest), n in seen.items()],
        "other": dict(errors.other),
    }
    errors.counts.clear()
    errors.samples.clear()
    errors.other.clear()
    return taken


def absorb(metrics: Metrics, errors: ErrorLog, delta: Delta) -> None:
    """Add a worker's delta to the coordinator's metrics and error log."""
    for entry in delta["series"]:
        kind, name, raw_tags = entry[0], entry[1], entry[2]
        tags: Tags = tuple((str(k), str(v)) for k, v in raw_tags)
        if kind == "t":
            tracked, count, total, low, high, encoded = entry[3:]
            trend = metrics.trend(name, tags, track_interval=tracked)
            if count:
                trend.flush()
                target = trend.interval if trend.interval is not None else trend.hist
                if encoded is not None:
                    target.decode_and_add(encoded)
                trend.count += count
                trend.sum += total
                trend.min = min(trend.min, low)
                trend.max = max(trend.max, high)
        elif kind == "r":
            rate = metrics.rate(name, tags)
            rate.trues += entry[3]
            rate.total += entry[4]
        elif kind == "c":
            metrics.counter(name, tags).add(entry[3])
    taken = delta["errors"]
    for kind, count in taken["counts"].items():
        errors.counts[kind] += count
    for kind, count in taken["other"].items():
        errors.other[kind] += count
    for kind, reason, method, tool, n in taken["samples"]:
        errors.add_samples(kind, reason, method, tool or None, n)
