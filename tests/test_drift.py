"""Soak drift on constructed timelines: the steady load, the windows, the gate, the not-judged cases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from mcpgate.config.loader import validate_config
from mcpgate.config.profiles import profile
from mcpgate.metrics.registry import new_histogram
from mcpgate.results.schema import (
    Drift,
    DriftWindow,
    Results,
    RunInfo,
    ScenarioInfo,
    SteadyLoad,
    TargetInfo,
    TimelinePoint,
    Timeseries,
)
from mcpgate.support import exitcodes
from mcpgate.support.format import ms
from mcpgate.verdict import drift
from mcpgate.verdict.drift import analyze, choose_window, with_drift
from mcpgate.verdict.steady import steady_load, steady_of

# -- building timelines -------------------------------------------------------------------

Latencies = Callable[[int], Sequence[float]]  # interval index -> that interval's samples, ms


def encoded(samples_ms: Sequence[float]) -> str | None:
    if not samples_ms:
        return None
    hist = new_histogram()
    for value in samples_ms:
        hist.record_value(round(value * 1000))
    return str(hist.encode().decode("ascii"))


def p95_of(samples_ms: Sequence[float]) -> float:
    """p95 of a union of samples, as one histogram holding them all answers it."""
    hist = new_histogram()
    for sample in samples_ms:
        hist.record_value(round(sample * 1000))
    value: int = min(hist.get_value_at_percentile(95.0), hist.get_max_value())
    return value / 1000.0


def timeline(
    n: int,
    *,
    tools: dict[str, Latencies],
    interval: float = 1.0,
    requests: Callable[[int], int] = lambda i: 100,
    failed: Callable[[int], int] = lambda i: 0,
    late: float = 0.0,
) -> Timeseries:
    """``n`` intervals of ``interval`` seconds; each tick ``late`` seconds after it was due."""
    points = [
        TimelinePoint(
            t=(i + 1) * interval + late,
            vus=10,
            vus_max=10,
            requests=requests(i),
            rps=requests(i) / interval,
            failed=failed(i),
            errors=failed(i),
            iterations=requests(i) // 4,
            dropped=0,
        )
        for i in range(n)
    ]
    hdr: dict[str, list[str | None]] = {}
    for tool, latencies in tools.items():
        hdr[f"mcp_tool_duration{{tool:{tool}}}"] = [encoded(latencies(i)) for i in range(n)]
    hdr["http_req_duration"] = [encoded([v for lat in tools.values() for v in lat(i)]) for i in range(n)]
    return Timeseries(interval_s=interval, points=points, hdr=hdr)


def steady(start: float, end: float) -> SteadyLoad:
    return SteadyLoad(start=start, end=end, load="s at 10 VUs")


def flat(ms: float, count: int = 50) -> Latencies:
    """``count`` samples spread evenly around ``ms`` (±10%)."""
    return lambda i: [ms * (0.9 + 0.2 * k / (count - 1)) for k in range(count)]


def growing(base: float, per_interval: float, count: int = 50) -> Latencies:
    return lambda i: [(base + per_interval * i) * (0.9 + 0.2 * k / (count - 1)) for k in range(count)]


def row(report: Drift, metric: str) -> Any:
    found = [r for r in report.rows if r.metric == metric]
    assert len(found) == 1, [r.metric for r in report.rows]
    return found[0]


# -- the steady load ----------------------------------------------------------------------


def scenarios(data: dict[str, Any]) -> Any:
    return validate_config({"target": {"url": "http://127.0.0.1:1/mcp"}, "scenarios": data}, {}, "t.yaml").scenarios


def test_a_constant_executor_is_steady_from_start_to_end() -> None:
    found = steady_load(scenarios({"soak": {"executor": "constant-vus", "vus": 10, "duration": "2h"}}))
    assert found == SteadyLoad(start=0.0, end=7200.0, load="soak at 10 VUs")
    found = steady_load(
        scenarios(
            {
                "r": {
                    "executor": "constant-arrival-rate",
                    "rate": 120,
                    "time_unit": "1m",
                    "duration": "10m",
                    "start_time": "30s",
                    "pre_allocated_vus": 5,
                }
            }
        )
    )
    assert found == SteadyLoad(start=30.0, end=630.0, load="r at 2 iterations/s")


def test_the_soak_profile_is_steady_throughout_and_the_load_profile_on_its_longest_plateau() -> None:
    soak = profile("soak")["scenarios"]
    assert steady_load(scenarios(soak)) == SteadyLoad(start=0.0, end=7200.0, load="soak at 10 VUs")
    # 2m -> 20, 5m at 20, 2m -> 50, 3m at 50, 2m -> 0: the ramps are left out, the longer plateau wins.
    load = profile("load")["scenarios"]
    assert steady_load(scenarios(load)) == SteadyLoad(start=120.0, end=420.0, load="load at 20 VUs")


def test_flat_stages_merge_across_a_jump_to_the_same_level_and_split_at_a_jump_elsewhere() -> None:
    stages = [
        {"duration": "1m", "target": 10},
        {"duration": "2m", "target": 10},
        {"duration": "0s", "target": 10},
        {"duration": "3m", "target": 10},
        {"duration": "0s", "target": 4},
        {"duration": "4m", "target": 4},
    ]
    found = steady_load(scenarios({"v": {"executor": "ramping-vus", "start_vus": 0, "stages": stages}}))
    assert found == SteadyLoad(start=60.0, end=360.0, load="v at 10 VUs")


def test_a_ramping_arrival_rate_plateau_in_iterations_per_second() -> None:
    stages = [{"duration": "1m", "target": 30}, {"duration": "5m", "target": 30}, {"duration": "1m", "target": 0}]
    data = {"a": {"executor": "ramping-arrival-rate", "time_unit": "1m", "stages": stages, "pre_allocated_vus": 2}}
    assert steady_load(scenarios(data)) == SteadyLoad(start=60.0, end=360.0, load="a at 0.5 iterations/s")


def test_side_by_side_scenarios_are_steady_only_where_none_of_them_changes() -> None:
    data = {
        "base": {"executor": "constant-vus", "vus": 10, "duration": "10m"},
        "burst": {
            "executor": "constant-arrival-rate",
            "rate": 5,
            "duration": "2m",
            "start_time": "5m",
            "graceful_stop": "30s",
            "pre_allocated_vus": 2,
        },
    }
    # 0-5m base alone; 5-7m both; 7m-7m30s the burst's iterations in flight finish; 7m30s-10m base alone.
    assert steady_load(scenarios(data)) == SteadyLoad(start=0.0, end=300.0, load="base at 10 VUs")
    data["burst"].update({"start_time": "2m", "duration": "6m"})
    assert steady_load(scenarios(data)) == SteadyLoad(
        start=120.0, end=480.0, load="base at 10 VUs, burst at 5 iterations/s"
    )


def test_a_run_that_ramps_all_the_time_has_no_steady_load() -> None:
    stages = [{"duration": "5m", "target": 50}, {"duration": "5m", "target": 0}]
    assert steady_load(scenarios({"v": {"executor": "ramping-vus", "stages": stages}})) is None


def test_a_saved_run_without_a_drift_section_is_read_from_its_scenarios() -> None:
    results = _results(None).model_copy(
        update={
            "scenarios": [
                ScenarioInfo(
                    name="soak",
                    executor="constant-vus",
                    description="constant-vus: 10 VUs for 20m",
                    max_vus=10,
                    start_time=0,
                    duration=1200,
                )
            ]
        }
    )
    assert steady_of(results) == SteadyLoad(start=0.0, end=1200.0, load="soak (constant-vus: 10 VUs for 20m)")
    ramping = ScenarioInfo(name="r", executor="ramping-vus", description="", max_vus=5, start_time=0, duration=60)
    assert steady_of(results.model_copy(update={"scenarios": [ramping]})) is None


# -- the windows --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "window", "expected"),
    [
        (7200.0, None, 600.0),  # a soak: its first and last ten minutes
        (1200.0, None, 300.0),  # shorter: a quarter each
        (240.0, None, 60.0),  # the shortest judged by default
        (12.0, 4.0, 4.0),  # set by --drift-window
        (8.0, 4.0, 4.0),  # exactly two windows
    ],
)
def test_the_window_is_ten_minutes_a_quarter_or_as_set(seconds: float, window: float | None, expected: float) -> None:
    assert choose_window(seconds, window) == (expected, "")


def test_short_steady_loads_are_not_judged_and_say_why() -> None:
    width, why = choose_window(239.0, None)
    assert width is None
    assert why == (
        "the steady load lasted 3m59s; drift is judged by default from 4m of it "
        "(windows of a quarter, at least 1m); --drift-window sets a window"
    )
    assert choose_window(7.0, 4.0) == (None, "the steady load lasted 7s, less than two 4s windows")


def test_a_slowing_tool_drifts_and_is_named_with_its_numbers() -> None:
    slow, fast = growing(10.0, 3.0), flat(4.0)
    series = timeline(12, tools={"slow": slow, "fast": fast})
    report = analyze(series, steady(0, 12), window=4.0)
    assert report.judged
    assert not report.ok
    assert (report.first, report.last) == (DriftWindow(start=0, end=4), DriftWindow(start=8, end=12))
    # Exact: the merged interval histograms answer as one histogram of all the window's samples would.
    s = row(report, "mcp_tool_duration{tool:slow}")
    assert s.first == p95_of([v for i in range(4) for v in slow(i)])
    assert s.last == p95_of([v for i in range(8, 12) for v in slow(i)])
    assert (s.first_count, s.last_count) == (200, 200)
    assert s.judged
    assert s.drifted
    f = row(report, "mcp_tool_duration{tool:fast}")
    assert f.judged
    assert not f.drifted
    assert f.first == f.last == p95_of(fast(0))
    assert row(report, "http_req_duration").drifted
    assert report.reason.startswith(f"drift: mcp_tool_duration{{tool:slow}} p(95) rose {ms(s.first)} -> {ms(s.last)} (")
    assert report.reason.endswith("limit 20%) from the first to the last 4s of steady load (and 1 more)")


def test_a_steady_server_does_not_drift() -> None:
    report = analyze(timeline(12, tools={"a": flat(30.0), "b": flat(4.0)}), steady(0, 12), window=4.0)
    assert report.judged
    assert report.ok
    assert all(r.judged and not r.drifted for r in report.rows)
    assert report.reason == ""


def test_the_ramp_is_left_out() -> None:
    # Intervals 0-3 ramp up with a terrible latency; the steady load runs from 4s to 16s.
    def latencies(i: int) -> Sequence[float]:
        return [900.0] * 50 if i < 4 else flat(20.0)(i)

    report = analyze(timeline(16, tools={"t": latencies}), steady(4, 16), window=4.0)
    assert report.first == DriftWindow(start=4, end=8)
    t = row(report, "mcp_tool_duration{tool:t}")
    assert t.first == t.last == p95_of(flat(20.0)(0))
    assert report.ok


def test_late_ticks_still_fall_in_their_windows() -> None:
    report = analyze(timeline(12, tools={"t": flat(20.0)}, late=0.04), steady(0, 12), window=4.0)
    assert row(report, "mcp_tool_duration{tool:t}").first_count == 4 * 50
    assert row(report, "mcp_tool_duration{tool:t}").last_count == 4 * 50


def test_the_tail_after_the_steady_load_is_left_out() -> None:
    # A final interval after the end (iterations in flight finishing) must not count.
    series = timeline(13, tools={"t": lambda i: [5000.0] * 50 if i == 12 else flat(20.0)(i)})
    report = analyze(series, steady(0, 12), window=4.0)
    assert report.last == DriftWindow(start=8, end=12)
    assert report.ok


def test_sub_millisecond_noise_cannot_fail_a_run() -> None:
    # About 0.6 ms -> 1 ms: +70%, but less than the 5 ms floor.
    report = analyze(timeline(12, tools={"t": growing(0.4, 0.05)}), steady(0, 12), window=4.0)
    t = row(report, "mcp_tool_duration{tool:t}")
    assert t.judged
    assert t.change is not None
    assert t.change > 0.5
    assert not t.drifted
    assert report.ok


def test_a_rising_error_rate_drifts_above_its_floor() -> None:
    tools = {"t": flat(20.0)}
    rising = analyze(
        timeline(12, tools=tools, requests=lambda i: 500, failed=lambda i: 10 if i >= 8 else 0), steady(0, 12), window=4
    )
    rate = row(rising, "http_req_failed")
    assert (rate.first, rate.last, rate.first_count, rate.last_count) == (0.0, 0.02, 2000, 2000)
    assert rate.drifted
    assert rising.reason.startswith("drift: http_req_failed rate rose 0% -> 2.00% (+2.00 pt, limit 20%)")
    blip = analyze(
        timeline(12, tools=tools, requests=lambda i: 500, failed=lambda i: 2 if i == 10 else 0), steady(0, 12), window=4
    )
    assert row(blip, "http_req_failed").last == 0.001
    assert blip.ok  # 0% -> 0.1%: under the half-point floor


def test_too_few_samples_are_shown_but_not_judged() -> None:
    report = analyze(timeline(12, tools={"rare": growing(10.0, 20.0, count=5)}), steady(0, 12), window=4.0)
    rare = row(report, "mcp_tool_duration{tool:rare}")
    assert not rare.judged
    assert not rare.drifted
    assert rare.note == "too few samples (20 and 20; 30 needed in each window)"
    assert rare.last is not None
    assert rare.first is not None
    assert rare.last > 2 * rare.first  # shown all the same
    assert report.judged
    assert report.ok


def test_off_reports_without_gating_and_zero_gates_any_rise_past_the_floors() -> None:
    series = timeline(12, tools={"t": growing(10.0, 3.0)})
    off = analyze(series, steady(0, 12), window=4.0, max_drift=None)
    assert off.judged
    assert off.ok
    assert off.max_drift is None
    assert not any(r.drifted for r in off.rows)
    assert drift.worst_p95_change(off) == row(off, "mcp_tool_duration{tool:t}").change
    strict = analyze(timeline(12, tools={"t": growing(20.0, 0.7)}), steady(0, 12), window=4.0, max_drift=0.0)
    assert row(strict, "mcp_tool_duration{tool:t}").drifted  # +27%, +5.6 ms
    lenient = analyze(timeline(12, tools={"t": growing(20.0, 0.7)}), steady(0, 12), window=4.0, max_drift=0.5)
    assert lenient.ok


@pytest.mark.parametrize(
    ("steady_load", "points", "interval", "window", "note"),
    [
        (None, 12, 1.0, 4.0, "the load never held steady: every scenario ramps the whole time"),
        ((20.0, 30.0), 12, 1.0, 4.0, "the run ended (12s) before its steady load began"),
        ((0.0, 12.0), 12, 1.0, 8.0, "the steady load lasted 12s, less than two 8s windows"),
        (
            (0.0, 60.0),
            6,
            10.0,
            5.0,
            "the 5s window is shorter than the timeline's 10s interval",
        ),
        ((0.0, 12.0), 12, 1.0, None, "the steady load lasted 12s; drift is judged by default from 4m of it"),
    ],
)
def test_what_is_not_judged_says_why(
    steady_load: tuple[float, float] | None, points: int, interval: float, window: float | None, note: str
) -> None:
    series = timeline(points, tools={"t": growing(10.0, 30.0)}, interval=interval)
    span = steady(*steady_load) if steady_load is not None else None
    report = analyze(series, span, window=window)
    assert not report.judged
    assert report.ok
    assert report.rows == []
    assert report.note.startswith(note)


def test_a_run_stopped_early_compares_up_to_where_it_stopped() -> None:
    # Planned 0-12s, interrupted after 9 intervals: the last window is 5-9s.
    report = analyze(timeline(9, tools={"t": flat(20.0)}), steady(0, 12), window=4.0)
    assert report.last == DriftWindow(start=5, end=9)


# -- the verdict --------------------------------------------------------------------------


def _results(series: Timeseries | None, status: str = "passed", reason: str = "") -> Results:
    code = exitcodes.OK if status == "passed" else exitcodes.THRESHOLDS_FAILED
    run = RunInfo(status=status, exit_code=code, reason=reason, started_at="t0", ended_at="t1", duration_s=12.0)
    return Results(run=run, target=TargetInfo(url="http://127.0.0.1:1/mcp"), timeseries=series)


def test_drift_fails_a_passing_run_with_99() -> None:
    series = timeline(12, tools={"slow": growing(10.0, 3.0)})
    results = with_drift(_results(series), steady(0, 12), max_drift=0.2, window=4.0)
    assert (results.run.status, results.run.exit_code) == ("failed", exitcodes.THRESHOLDS_FAILED)
    assert results.drift is not None
    assert results.run.reason == results.drift.reason
    assert "tool:slow" in results.run.reason


def test_drift_keeps_an_earlier_failure_and_its_reason() -> None:
    series = timeline(12, tools={"slow": growing(10.0, 3.0)})
    results = with_drift(_results(series, "failed", "thresholds"), steady(0, 12), max_drift=0.2, window=4.0)
    assert (results.run.status, results.run.reason) == ("failed", "thresholds")
    assert results.drift is not None
    assert not results.drift.ok


@pytest.mark.parametrize(("max_drift", "window"), [(None, 4.0), (0.2, None)])
def test_reported_only_or_not_judged_leaves_a_pass_a_pass(max_drift: float | None, window: float | None) -> None:
    series = timeline(12, tools={"slow": growing(10.0, 3.0)})
    results = with_drift(_results(series), steady(0, 12), max_drift=max_drift, window=window)
    assert (results.run.status, results.run.exit_code) == ("passed", exitcodes.OK)
    assert results.drift is not None


def test_a_bug_in_the_analysis_costs_the_drift_section_only() -> None:
    series = timeline(4, tools={"t": flat(1.0)})
    broken = series.model_copy(update={"hdr": {"http_req_duration": ["not a histogram"] * 4}})
    results = with_drift(_results(broken), steady(0, 4), max_drift=0.2, window=1.0)
    assert results.run.status == "passed"
    assert results.drift is not None
    assert results.drift.note.startswith("internal error in the drift analysis: ")
