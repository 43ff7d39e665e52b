"""Each breakpoint step judged on its own samples: exactly them, in one process and over workers.

One process: the run's Metrics copies every sample into a window swapped at
each step boundary. Workers: each report goes to the window of the step it
falls in, and a step is judged once every worker has reported to its end.
Both are checked against a Metrics fed with only that step's samples, and a
bad step is shown to break although the run as a whole would pass.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson
import pytest

from mcpgate.config.models import BreakpointConfig
from mcpgate.config.thresholds import Threshold, parse_threshold
from mcpgate.engine.control import Control
from mcpgate.engine.delta import DeltaTaker, absorb
from mcpgate.engine.steps import FleetSteps, StepSearch
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import Metrics, tags_of
from mcpgate.metrics.timeline import Timeline
from mcpgate.plan.breakpoint import BreakpointPlan, plan_breakpoint, vus_steps
from mcpgate.verdict.breakpoint import StepJudge, StepResult, conclude, judge_step

TOOL = tags_of(scenario="breakpoint", tool="search")
HTTP = tags_of(scenario="breakpoint", method="tools/call")
STATS = ("count", "min", "max", "avg", "med", "p(90)", "p(95)", "p(99)")


def record(metrics: Metrics, ms: float, ok: bool = True) -> None:
    """One iteration as the recorder writes it: the call's latency, its outcome, the counters."""
    metrics.trend("http_req_duration", HTTP, track_interval=True).add(ms)
    metrics.trend("mcp_tool_duration", TOOL, track_interval=True).add(ms)
    metrics.trend("iteration_duration", tags_of(scenario="breakpoint")).add(ms * 2)
    metrics.rate("http_req_failed", HTTP).add(not ok)
    metrics.rate("checks", tags_of(scenario="breakpoint", check="tools/call search is ok")).add(ok)
    metrics.counter("http_reqs", HTTP).add()
    metrics.counter("iterations", tags_of(scenario="breakpoint")).add()


def alone(samples: list[tuple[float, bool]]) -> Metrics:
    """A Metrics that saw only these samples: what a step's window must equal."""
    metrics = Metrics()
    for ms, ok in samples:
        record(metrics, ms, ok)
    return metrics


def assert_same(window: Metrics, reference: Metrics) -> None:
    for name in ("http_req_duration", "mcp_tool_duration", "iteration_duration"):
        for stat in STATS:
            assert window.aggregate(name, (), stat) == reference.aggregate(name, (), stat), (name, stat)
    for name in ("http_req_failed", "checks"):
        assert window.rate_totals(name) == reference.rate_totals(name), name
    for name in ("http_reqs", "iterations"):
        assert window.counter_total(name) == reference.counter_total(name), name


def phases(seed: int) -> list[list[tuple[float, bool]]]:
    """Three steps: two quick ones with many samples, then a slow one with few (5% of the run)."""
    rng = random.Random(seed)
    quick = [[(rng.uniform(5, 60), rng.random() > 0.001) for _ in range(1000)] for _ in range(2)]
    slow = [(rng.uniform(900, 1500), True) for _ in range(105)]
    return [*quick, slow]


def search_plan(**search: object) -> BreakpointPlan:
    return plan_breakpoint(BreakpointConfig.model_validate(search))


P95 = parse_threshold("mcp_tool_duration", "p(95)<500")


def test_in_one_process_every_sample_lands_in_exactly_one_step_window() -> None:
    steps = phases(1)
    metrics = Metrics()
    metrics.counter("mcp_init_errors", tags_of(scenario="breakpoint"))  # created at the start, never counted
    timeline = Timeline(metrics)
    metrics.open_window()
    windows: list[Metrics] = []
    for index, samples in enumerate(steps):
        for at, (ms, ok) in enumerate(samples):
            record(metrics, ms, ok)
            if at == len(samples) // 2:
                timeline.tick(index + 0.5, 1, 1)  # the timeline folds its intervals mid-step: no sample is lost
        windows.append(metrics.take_window())
    metrics.close_window()
    record(metrics, 7.0)  # after the search: in the run, in no window
    for window, samples in zip(windows, steps, strict=True):
        assert_same(window, alone(samples))
        # A counter the step never touched counts 0 in it: "count<1" has data to judge.
        assert window.counter_total("mcp_init_errors") == 0.0
    total = sum(len(s) for s in steps) + 1
    assert metrics.aggregate("mcp_tool_duration", (), "count") == total
    assert metrics.counter_total("http_reqs") == total


def test_a_series_born_mid_step_is_in_that_steps_window() -> None:
    metrics = Metrics()
    metrics.open_window()
    record(metrics, 10.0)
    metrics.trend("mcp_tool_duration", tags_of(scenario="breakpoint", tool="late")).add(42.0)
    window = metrics.take_window()
    assert window.aggregate("mcp_tool_duration", tags_of(tool="late"), "max") == 42.0
    metrics.trend("mcp_tool_duration", tags_of(scenario="breakpoint", tool="late")).add(43.0)
    assert metrics.window is not None
    assert metrics.window.aggregate("mcp_tool_duration", tags_of(tool="late"), "count") == 1


def test_a_breaking_step_is_not_diluted_by_the_good_steps_before_it() -> None:
    steps = phases(2)
    plan = search_plan(start=10, step=10, max=30, step_duration="2s")
    control = Control()
    search = StepSearch(StepJudge(plan, [P95]), control, check_every=2.0)
    metrics = Metrics()
    metrics.open_window()
    for samples in steps:
        for ms, ok in samples:
            record(metrics, ms, ok)
        search.judge(metrics.take_window(), 2.0)
    assert [s.held for s in search.steps] == [True, True, False]
    assert search.over
    assert control.stopping.is_set()
    assert control.stop_reason.startswith("breakpoint: 30 iterations/s broke: mcp_tool_duration p(95)<500 failed")
    # The run as a whole passes the same threshold: only the step alone shows the break.
    whole = metrics.aggregate("mcp_tool_duration", (), "p(95)")
    assert whole is not None
    assert whole < 500
    broke = search.steps[-1]
    assert broke.p95_tool is not None
    assert broke.p95_tool >= 900


Feed = Callable[[int, int], list[tuple[float, bool]]]


def fleet_run(
    period: float, reports: int, feed: Feed, thresholds: list[Threshold]
) -> tuple[StepSearch[StepResult], Metrics]:
    """Two workers reporting every ``period``; worker 1 always one report behind worker 0."""
    plan = search_plan(start=10, step=10, max=30, step_duration="2s")
    search = StepSearch(StepJudge(plan, thresholds), Control(), check_every=2.0)
    run_metrics = Metrics()
    steps = FleetSteps(search, run_metrics, period)
    workers = [(Metrics(), ErrorLog()) for _ in range(2)]
    takers = [DeltaTaker(m, e) for m, e in workers]
    reported = [0, 0]

    def report(worker: int) -> None:
        n = reported[worker] + 1
        for ms, ok in feed(worker, n):
            record(workers[worker][0], ms, ok)
        delta = orjson.loads(orjson.dumps(takers[worker].take()))  # as it travels
        absorb(run_metrics, ErrorLog(), delta)
        steps.absorb(n, delta)
        reported[worker] = n
        steps.advance(min(reported))

    for _ in range(reports):
        report(0)
        judged_before = len(search.steps)
        report(1)
        if reported[1] % steps.per_step == 0 and not search.over:
            assert len(search.steps) == judged_before + 1  # judged when the slower worker reached the end
    return search, run_metrics


def test_over_workers_a_step_is_judged_on_exactly_its_reports_once_all_have_reported() -> None:
    rng = random.Random(5)
    period = 0.5  # 4 reports a step
    chunks: dict[tuple[int, int], list[tuple[float, bool]]] = {}

    def feed(worker: int, n: int) -> list[tuple[float, bool]]:
        step = (n - 1) // 4
        if step < 2:
            chunk = [(rng.uniform(5, 60), True) for _ in range(125)]
        else:
            chunk = [(rng.uniform(900, 1500), True) for _ in range(13)]
        chunks[(worker, n)] = chunk
        return chunk

    search, run_metrics = fleet_run(period, 12, feed, [P95])
    assert [s.held for s in search.steps] == [True, True, False]
    for result in search.steps:
        reports = range(result.index * 4 + 1, result.index * 4 + 5)
        samples = [s for w in (0, 1) for n in reports for s in chunks[(w, n)]]
        reference = alone(samples)
        assert result.seconds == 2.0
        assert result.iterations == len(samples)
        assert result.p95_tool == reference.aggregate("mcp_tool_duration", (), "p(95)")
        assert result.p95_http == reference.aggregate("http_req_duration", (), "p(95)")
    whole = run_metrics.aggregate("mcp_tool_duration", (), "p(95)")
    assert whole is not None
    assert whole < 500  # the run as a whole would have passed


def test_over_workers_an_abort_on_fail_threshold_cuts_a_broken_step_short() -> None:
    watched = parse_threshold("mcp_tool_duration", "p(95)<500", abort_on_fail=True)

    def feed(worker: int, n: int) -> list[tuple[float, bool]]:
        return [(20.0, True)] * 50 if n <= 8 else [(1200.0, True)] * 5

    search, _ = fleet_run(0.25, 16, feed, [watched])  # 8 reports a step, checked every 2 s (8 reports)
    assert [s.held for s in search.steps] == [True, False]
    cut = search.steps[-1]
    assert cut.partial
    assert cut.seconds < 2.0  # judged on the step so far, before its end
    assert cut.failures[0].what == "mcp_tool_duration p(95)<500"
    assert search.control.stopping.is_set()


def window_with(requests: int, failed: int = 0, checks_failed: int = 0, dropped: int = 0) -> Metrics:
    metrics = Metrics()
    for i in range(requests):
        metrics.trend("http_req_duration", HTTP).add(10.0)
        metrics.counter("http_reqs", HTTP).add()
        metrics.rate("http_req_failed", HTTP).add(i < failed)
        metrics.rate("checks", tags_of(check="x")).add(i >= checks_failed)
        metrics.counter("iterations").add()
    metrics.counter("dropped_iterations").add(dropped)
    return metrics


def test_the_error_limit_breaks_a_step_on_failed_requests_or_failed_mcp_steps() -> None:
    plan = search_plan(start=10, step=10, max=20, step_duration="10s", max_error_rate="2%")
    assert judge_step(plan, 0, window_with(100, failed=2), [], 10.0).held  # 2% is not above 2%
    failed = judge_step(plan, 0, window_with(100, failed=3), [], 10.0)
    assert [f.kind for f in failed.failures] == ["errors"]
    assert failed.failures[0].text == "failed requests (http_req_failed) 3.00%, more than the limit 2.00%"
    checks = judge_step(plan, 0, window_with(100, checks_failed=5), [], 10.0)
    assert checks.failures[0].what == "failed MCP steps (checks)"
    assert checks.error_rate == pytest.approx(0.05)


def test_a_step_whose_iterations_could_not_start_did_not_hold() -> None:
    plan = search_plan(start=10, step=10, max=20, step_duration="10s", max_vus=7)
    scheduled = plan.scheduled(0)
    assert scheduled is not None
    result = judge_step(plan, 0, window_with(90, dropped=3), [], 10.0)
    assert [f.kind for f in result.failures] == ["dropped"]
    share = f"{3 / scheduled:.2%}"
    expected = f"3 of {scheduled} iterations could not start in time ({share}): all 7 VUs were busy"
    assert result.failures[0].text == expected
    tolerant = search_plan(start=10, step=10, max=20, step_duration="10s", max_dropped_rate="5%")
    assert judge_step(tolerant, 0, window_with(90, dropped=3), [], 10.0).held


def test_a_step_in_which_nothing_completed_did_not_hold() -> None:
    plan = search_plan(start=10, step=10, max=20, step_duration="10s")
    result = judge_step(plan, 0, window_with(0), [], 10.0)
    assert [f.kind for f in result.failures] == ["idle"]


def test_thresholds_judge_the_step_alone_no_data_included() -> None:
    plan = search_plan(start=10, step=10, max=20, step_duration="2s")
    window = window_with(8)
    rate = parse_threshold("http_reqs", "rate>=5")  # a counter's rate: per second of the step
    rare = parse_threshold("mcp_tool_duration{tool:rare}", "p(95)<100")
    allowed = parse_threshold("mcp_tool_duration{tool:rare}", "p(95)<100", allow_no_data=True)
    result = judge_step(plan, 0, window, [rate, rare, allowed], 2.0)
    assert [f.what for f in result.failures] == ["http_reqs rate>=5", "mcp_tool_duration{tool:rare} p(95)<100"]
    assert result.failures[0].text == "http_reqs rate>=5 failed: rate=4.00/s"
    assert result.failures[1].text.endswith("failed: no data")


def step(plan: BreakpointPlan, index: int, held: bool) -> StepResult:
    window = window_with(10 if held else 0)
    return judge_step(plan, index, window, [], plan.step_duration)


def test_the_conclusion_names_the_breaking_point_and_what_broke_it() -> None:
    plan = search_plan(start=10, step=10, max=40, step_duration="2s", min_breaking_point=20)
    found = conclude(plan, [step(plan, 0, True), step(plan, 1, True), step(plan, 2, False)])
    assert found.found
    assert found.headline == "20 iterations/s"
    assert found.reason == "breaking point 20 iterations/s: at 30 iterations/s no request completed in the step"
    assert found.gate_ok is True
    assert found.rate(plan) == 20
    below = conclude(plan, [step(plan, 0, True), step(plan, 1, False)])
    assert below.gate_ok is False
    assert below.reason.startswith("breaking point 10 iterations/s is below the minimum 20 iterations/s: at 20")
    none = conclude(plan, [step(plan, 0, False)])
    assert none.headline == "below 10 iterations/s"
    assert none.reason.startswith("no step held, the first already broke")
    assert none.rate(plan) == 0
    every = conclude(plan, [step(plan, i, True) for i in range(4)])
    assert every.headline == "not reached up to 40 iterations/s"
    assert every.complete
    assert not every.found
    stopped = conclude(plan, [step(plan, 0, True)])
    assert not stopped.complete
    assert stopped.headline == "at least 10 iterations/s"
    assert stopped.gate_ok is None  # an unfinished search proves nothing either way


def test_the_ladder_and_its_schedule() -> None:
    plan = search_plan(start=10, step=10, max=30, step_duration="2s")
    assert plan.levels == (10, 20, 30)
    assert plan.schedule is not None
    counts = [plan.scheduled(i) for i in range(3)]
    assert counts == [19, 40, 60]  # k6's ramping-arrival-rate: iteration n when the area reaches n + 1
    assert sum(c or 0 for c in counts) == plan.schedule.total()
    assert (plan.pre_allocated_vus, plan.max_vus) == (10, 300)
    uneven = search_plan(start=5, step=20, max=50, step_duration="1s")
    assert uneven.levels == (5, 25, 45, 50)  # the last step is max itself
    vus = search_plan(executor="vus", start=2, step=3, max=8, step_duration="5s")
    assert vus_steps(vus) == ((0.0, 2), (5.0, 5), (10.0, 8))
    assert vus.schedule is None
    assert vus.describe() == "stepped VUs, 2 to 8 VUs, +3 every 5s (3 steps)"
