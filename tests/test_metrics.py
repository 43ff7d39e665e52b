"""HDR-backed metrics: accurate percentiles, exact counts, merges that lose nothing."""

from __future__ import annotations

import math
import random

from hdrh.histogram import HdrHistogram

from mcpgate.metrics.registry import (
    FLUSH_AT,
    Metrics,
    TrendSeries,
    clear_histogram,
    new_histogram,
    record_batch,
    tags_of,
)


def exact_percentile(values: list[float], p: float) -> float:
    """The smallest value with at least p% of the samples at or below it (HDR's definition)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def test_percentiles_within_a_tenth_of_a_percent() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1.2) for _ in range(50_000)]  # ms, a long-tailed latency shape
    m = Metrics()
    series = m.trend("mcp_tool_duration", tags_of(tool="t"))
    for v in values:
        series.add(v)
    snap = m.trend_snapshot("mcp_tool_duration")
    assert snap is not None
    assert snap.count == len(values)
    assert math.isclose(snap.avg, sum(values) / len(values), rel_tol=1e-12)
    assert (snap.min, snap.max) == (min(values), max(values))
    for p in (50.0, 90.0, 95.0, 99.0, 99.9):
        want = exact_percentile(values, p)
        got = snap.percentile(p)
        # 3 significant digits, plus the 1 µs resolution on sub-millisecond values
        assert abs(got - want) <= want * 0.001 + 0.001, (p, got, want)


def test_batched_recording_flushes_and_counts_exactly() -> None:
    series = TrendSeries()
    for i in range(FLUSH_AT * 2 + 5):
        series.add(1.0 + (i % 10))
    assert series.count == FLUSH_AT * 2 + 5
    assert len(series.pending) == 5  # two batches already in the histogram
    series.flush()
    assert series.hist.get_total_count() == FLUSH_AT * 2 + 5


def test_sub_metrics_merge_series_by_tag() -> None:
    m = Metrics()
    m.trend("mcp_tool_duration", tags_of(scenario="a", tool="x")).add(10)
    m.trend("mcp_tool_duration", tags_of(scenario="b", tool="x")).add(30)
    m.trend("mcp_tool_duration", tags_of(scenario="a", tool="y")).add(1000)
    assert m.aggregate("mcp_tool_duration", tags_of(tool="x"), "count") == 2
    assert m.aggregate("mcp_tool_duration", tags_of(tool="x"), "max") == 30
    assert m.aggregate("mcp_tool_duration", tags_of(scenario="a"), "count") == 2
    assert m.aggregate("mcp_tool_duration", (), "count") == 3
    assert m.aggregate("mcp_tool_duration", tags_of(tool="nope"), "p(95)") is None


def test_rates_counters_and_gauges_mean_what_k6_means() -> None:
    m = Metrics(elapsed=10.0)
    errors = m.rate("mcp_tool_errors")
    for i in range(200):
        errors.add(i % 50 == 0)  # 4 of 200
    m.counter("http_reqs").add(300)
    m.gauge("vus").set(5)
    m.gauge("vus").set(2)
    assert m.aggregate("mcp_tool_errors", (), "rate") == 0.02  # a fraction, never per second
    assert m.aggregate("http_reqs", (), "count") == 300
    assert m.aggregate("http_reqs", (), "rate") == 30.0  # a counter's rate is per second, as in k6
    assert (m.aggregate("vus", (), "value"), m.aggregate("vus", (), "max")) == (2, 5)
    assert m.aggregate("mcp_tool_is_error", (), "rate") is None  # no samples: no data


def test_encoded_histograms_merge_exactly() -> None:
    rng = random.Random(3)
    parts = [[rng.uniform(1, 500) for _ in range(5000)] for _ in range(3)]
    encoded = []
    for part in parts:
        series = TrendSeries()
        for v in part:
            series.add(v)
        series.flush()
        encoded.append(series.hist.encode())
    merged = HdrHistogram(1, 3_600_000_000, 3)
    for blob in encoded:
        merged.decode_and_add(blob)
    whole = TrendSeries()
    for v in (v for part in parts for v in part):
        whole.add(v)
    whole.flush()
    assert merged.get_total_count() == 15_000
    for p in (50.0, 95.0, 99.0):
        assert merged.get_value_at_percentile(p) == whole.hist.get_value_at_percentile(p)


def test_clearing_a_histogram_leaves_it_as_new() -> None:
    used = new_histogram()
    record_batch(used, [1, 999, 1_000_000, 59_000_000])
    clear_histogram(used)
    fresh = new_histogram()
    assert list(used.counts) == list(fresh.counts)
    assert (used.total_count, used.min_value, used.max_value) == (0, fresh.min_value, fresh.max_value)
    record_batch(used, [2_000])
    assert used.get_value_at_percentile(50) == fresh.get_highest_equivalent_value(2_000)


def test_interval_series_fold_into_the_total_without_loss() -> None:
    series = TrendSeries(track_interval=True)
    for ms in (1.0, 2.0, 3.0):
        series.add(ms)
    series.fold()
    series.add(40.0)
    series.fold()
    assert series.interval is not None
    assert series.interval.get_total_count() == 0
    assert series.hist.get_total_count() == 4
    assert series.hist.get_max_value() == series.hist.get_highest_equivalent_value(40_000)
