"""Worker reports merge exactly: N processes' metrics equal one process's, sample for sample."""

from __future__ import annotations

import random

import orjson

from mcpgate.engine.delta import DeltaTaker, absorb
from mcpgate.metrics.recorder import MAX_REASONS, ErrorLog
from mcpgate.metrics.registry import Metrics, TrendSeries, tags_of

Sample = tuple[str, float, bool]  # (tool, ms, ok)


def feed(metrics: Metrics, errors: ErrorLog, samples: list[Sample]) -> None:
    for tool, ms, ok in samples:
        tags = tags_of(scenario="s", tool=tool)
        metrics.trend("mcp_tool_duration", tags, track_interval=True).add(ms)
        metrics.trend("iteration_duration", tags_of(scenario="s")).add(ms * 3)
        metrics.rate("mcp_tool_errors", tags).add(not ok)
        metrics.counter("http_reqs", tags).add()
        if not ok:
            errors.add("timeout", f"no response for {tool} ({int(ms) % 13})", "tools/call", tool)


def test_reports_from_two_workers_equal_one_process() -> None:
    rng = random.Random(3)
    samples = [(rng.choice("abc"), rng.lognormvariate(2, 1.5), rng.random() > 0.1) for _ in range(20_000)]
    single_m, single_e = Metrics(), ErrorLog()
    feed(single_m, single_e, samples)
    merged_m, merged_e = Metrics(), ErrorLog()
    workers = [(Metrics(), ErrorLog()) for _ in range(2)]
    takers = [DeltaTaker(m, e) for m, e in workers]
    for start in range(0, len(samples), 1_000):  # a report every thousand samples, alternating workers
        chunk = samples[start : start + 1_000]
        index = (start // 1_000) % 2
        feed(*workers[index], chunk)
        for taker in takers:
            delta = orjson.loads(orjson.dumps(taker.take()))  # as it travels: JSON
            absorb(merged_m, merged_e, delta)
    assert set(merged_m.series) == set(single_m.series)
    for key, want in single_m.series.items():
        got = merged_m.series[key]
        assert type(got) is type(want)
        if isinstance(want, TrendSeries):
            assert isinstance(got, TrendSeries)
            want.flush()
            got.flush()
            assert (got.count, got.min, got.max) == (want.count, want.min, want.max), key
            assert abs(got.sum - want.sum) <= 1e-9 * want.sum
            assert list(got.hist.counts) == list(want.hist.counts), key
            assert (got.interval is None) == (want.interval is None)
            if want.interval is not None and got.interval is not None:
                assert list(got.interval.counts) == list(want.interval.counts), key
        else:
            assert got == want, key
    assert merged_e.counts == single_e.counts
    # Which reasons are kept as samples depends on arrival order; that every error is accounted for does not.
    for kind, count in merged_e.counts.items():
        assert sum(merged_e.samples[kind].values()) + merged_e.other[kind] == count
        assert len(merged_e.samples[kind]) <= MAX_REASONS


def test_a_delta_is_taken_once_and_series_are_announced_even_when_empty() -> None:
    metrics, errors = Metrics(), ErrorLog()
    metrics.counter("mcp_errors_timeout", tags_of(scenario="s"))  # zero from the start
    taker = DeltaTaker(metrics, errors)
    first = taker.take()
    assert [entry[:2] for entry in first["series"]] == [["c", "mcp_errors_timeout"]]
    assert taker.take()["series"] == []  # nothing new, nothing sent
    metrics.counter("mcp_errors_timeout", tags_of(scenario="s")).add(2)
    assert [entry[3] for entry in taker.take()["series"]] == [2.0]


def test_error_samples_keep_their_cap_when_merged() -> None:
    merged = ErrorLog()
    for worker in range(3):
        log = ErrorLog()
        for i in range(MAX_REASONS):
            log.add("http_error", f"500 from worker {worker} #{i}", "tools/call", "t")
        absorb(Metrics(), merged, {"series": [], "errors": DeltaTaker(Metrics(), log).take()["errors"]})
    assert merged.counts["http_error"] == 3 * MAX_REASONS
    assert len(merged.samples["http_error"]) == MAX_REASONS
    assert merged.other["http_error"] == 2 * MAX_REASONS
