"""The breakpoint search: a ladder of load levels, each step judged on its own samples.

The plan is pure: the levels, how long each holds, the limits, and the
schedule of the one scenario that climbs the ladder (an arrival rate that
jumps at each step boundary, or a VU count that does). While the run goes,
engine/steps.py keeps each step's samples apart from the rest; here a step is
judged on them alone, so a breaking step is never diluted by the good steps
before it: the run's thresholds, the error limit, and, for an arrival rate,
iterations that could not start in time. The breaking point is the last step
that held.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mcpgate.catalog import BUILTIN
from mcpgate.config.models import MAX_VUS, BreakpointConfig
from mcpgate.durations import format_duration
from mcpgate.engine.schedule import ArrivalSchedule, Stage
from mcpgate.metrics import Metrics
from mcpgate.report.format import count, observed, pct
from mcpgate.thresholds import Threshold, Verdict, evaluate_all

ARRIVAL = "arrival"
VUS = "vus"
SCENARIO = "breakpoint"
GRACE = 3.0  # seconds iterations in flight may finish once the search is over
DEFAULT_VUS_PER_RATE = 10  # arrival: VUs allowed per iteration/s at the top step (10 s per iteration)


@dataclass(frozen=True)
class BreakpointPlan:
    """The search, settled: the levels, their timing, and what breaks a step."""

    executor: str  # "arrival" or "vus"
    levels: tuple[float, ...]
    step_duration: float
    max_error_rate: float
    max_dropped_rate: float
    min_breaking_point: float | None
    start: float
    step: float
    max: float
    pre_allocated_vus: int = 0  # arrival
    max_vus: int = 0  # arrival: the most VUs serving the rate; vus: the top step
    schedule: ArrivalSchedule | None = None  # arrival

    @property
    def unit(self) -> str:
        return "iterations/s" if self.executor == ARRIVAL else "VUs"

    @property
    def duration(self) -> float:
        return len(self.levels) * self.step_duration

    def show(self, level: float) -> str:
        """``120 iterations/s``, ``40 VUs``, ``1 VU``."""
        if self.executor == VUS and level == 1:
            return "1 VU"
        return f"{level:g} {self.unit}"

    def span(self, index: int) -> tuple[float, float]:
        """Where step ``index`` (0-based) starts and ends, in seconds from the start of the run."""
        return index * self.step_duration, (index + 1) * self.step_duration

    def scheduled(self, index: int, seconds: float | None = None) -> int | None:
        """Iterations the schedule starts in step ``index`` (in its first ``seconds``); None for VUs."""
        if self.schedule is None:
            return None
        start, end = self.span(index)
        if seconds is not None:
            end = min(end, start + seconds)
        return _started_before(self.schedule, end) - _started_before(self.schedule, start)

    def describe(self) -> str:
        """``stepped arrival rate, 10 to 200 iterations/s, +10 every 30s (20 steps), up to 2,000 VUs``."""
        steps = len(self.levels)
        kind = "stepped arrival rate" if self.executor == ARRIVAL else "stepped VUs"
        climb = f", +{self.step:g} every {format_duration(self.step_duration)}" if steps > 1 else ""
        cap = f", up to {self.max_vus:,} VUs" if self.executor == ARRIVAL else ""
        ladder = f"{kind}, {self.levels[0]:g} to {self.show(self.levels[-1])}{climb}"
        return f"{ladder} ({steps} step{'s' if steps != 1 else ''}){cap}"


def _started_before(schedule: ArrivalSchedule, t: float) -> int:
    """Iterations whose start offset is before ``t`` (count_until counts those at or before it)."""
    if t <= 0:
        return 0
    return schedule.count_until(math.nextafter(t, -math.inf))


def plan_breakpoint(config: BreakpointConfig) -> BreakpointPlan:
    """The ladder of a validated ``breakpoint`` section, and the schedule that climbs it."""
    levels = config.levels()
    sd = config.step_duration
    schedule: ArrivalSchedule | None = None
    if config.executor == VUS:
        pre, top = 0, int(levels[-1])
    else:
        stages: list[Stage] = []
        for index, level in enumerate(levels):
            if index:
                stages.append(Stage(0.0, level))  # a jump at the step boundary
            stages.append(Stage(sd, level))
        schedule = ArrivalSchedule(levels[0], stages)
        top = config.max_vus or max(1, math.ceil(min(float(MAX_VUS), levels[-1] * DEFAULT_VUS_PER_RATE)))
        pre = min(config.pre_allocated_vus or max(1, math.ceil(levels[0])), top)
    return BreakpointPlan(
        executor=config.executor,
        levels=levels,
        step_duration=sd,
        max_error_rate=config.max_error_rate,
        max_dropped_rate=config.max_dropped_rate,
        min_breaking_point=config.min_breaking_point,
        start=config.start,
        step=config.step,
        max=config.max,
        pre_allocated_vus=pre,
        max_vus=top,
        schedule=schedule,
    )


def step_interval(plan: BreakpointPlan, wanted: float, *, given: bool) -> tuple[float, list[str]]:
    """The timeline interval nearest ``wanted`` that divides a step: every step a whole number of
    intervals, so worker reports (a whole fraction of one) fall inside exactly one step."""
    sd = plan.step_duration
    interval = sd / max(1, round(sd / wanted))
    if given and not math.isclose(interval, wanted, rel_tol=1e-9):
        shown, asked, each = format_duration(interval), format_duration(wanted), format_duration(sd)
        return interval, [f"the timeline interval is {shown}, not {asked}, to divide each {each} step"]
    return interval, []


def vus_steps(plan: BreakpointPlan) -> tuple[tuple[float, int], ...]:
    """A VU search as a closed-model executor's (offset, VUs) steps."""
    return tuple((plan.span(index)[0], int(level)) for index, level in enumerate(plan.levels))


# -- judging a step -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a step did not hold."""

    kind: str  # "threshold", "errors", "dropped" or "idle"
    what: str  # the threshold ("mcp_tool_duration p(95)<3000") or the limit ("failed requests")
    observed: float | None
    limit: float | None
    text: str  # one line: "mcp_tool_duration p(95)<3000 failed: p(95)=4.12s"


@dataclass(frozen=True)
class StepResult:
    """One step's own figures and verdict."""

    index: int  # 0-based
    level: float
    start: float  # seconds from the start of the run
    seconds: float  # how long the judged window lasted
    partial: bool  # judged before its end: an abort_on_fail threshold failed on the step so far
    iterations: int
    requests: int
    dropped: int
    scheduled: int | None
    p95_http: float | None  # ms
    p95_tool: float | None  # ms
    error_rate: float | None  # MCP steps not ok
    failed_rate: float | None  # http_req_failed
    verdicts: tuple[Verdict, ...]
    failures: tuple[Failure, ...]

    @property
    def held(self) -> bool:
        return not self.failures

    @property
    def throughput(self) -> float:
        """Iterations completed per second."""
        return self.iterations / self.seconds if self.seconds > 0 else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def judge_step(
    plan: BreakpointPlan,
    index: int,
    window: Metrics,
    thresholds: Sequence[Threshold],
    seconds: float,
    *,
    partial: bool = False,
    lead: Threshold | None = None,
) -> StepResult:
    """Step ``index`` judged on its own samples (``window``, ``seconds`` long).

    Every threshold is evaluated over the window alone (a counter's rate per second of the
    step); one that fails, "no data" included unless allow_no_data, breaks the step, as do the
    error limit, iterations that could not start, and a step in which no request completed.
    ``lead``, the threshold that cut a step short, is named first.
    """
    window.elapsed = seconds
    verdicts = tuple(evaluate_all(thresholds, window.observe))
    failing = sorted((v for v in verdicts if not v.ok), key=lambda v: v.threshold != lead)
    failures = [_threshold_failure(v) for v in failing]
    checks_ok, checks = window.rate_totals("checks")
    failed, requests_rated = window.rate_totals("http_req_failed")
    error_rate = (checks - checks_ok) / checks if checks else None
    failed_rate = failed / requests_rated if requests_rated else None
    limit = plan.max_error_rate
    for what, rate in (("failed requests (http_req_failed)", failed_rate), ("failed MCP steps (checks)", error_rate)):
        if rate is not None and rate > limit:
            text = f"{what} {pct(rate)}, more than the limit {pct(limit)}"
            failures.append(Failure("errors", what, rate, limit, text))
    dropped = round(window.counter_total("dropped_iterations") or 0.0)
    scheduled = plan.scheduled(index, seconds if partial else None)
    if scheduled is not None and dropped and dropped > plan.max_dropped_rate * scheduled:
        share = dropped / scheduled if scheduled else 1.0
        text = (
            f"{count(dropped)} of {count(scheduled)} iterations could not start in time ({pct(share)}): "
            f"all {plan.max_vus} VUs were busy"
        )
        failures.append(Failure("dropped", "dropped iterations", share, plan.max_dropped_rate, text))
    requests = round(window.counter_total("http_reqs") or 0.0)
    if requests == 0:
        failures.append(Failure("idle", "requests", 0.0, None, "no request completed in the step"))
    http = window.trend_snapshot("http_req_duration")
    tool = window.trend_snapshot("mcp_tool_duration")
    return StepResult(
        index=index,
        level=plan.levels[index],
        start=plan.span(index)[0],
        seconds=seconds,
        partial=partial,
        iterations=round(window.counter_total("iterations") or 0.0),
        requests=requests,
        dropped=dropped,
        scheduled=scheduled,
        p95_http=http.percentile(95.0) if http is not None else None,
        p95_tool=tool.percentile(95.0) if tool is not None else None,
        error_rate=error_rate,
        failed_rate=failed_rate,
        verdicts=verdicts,
        failures=tuple(failures),
    )


def _threshold_failure(verdict: Verdict) -> Failure:
    t = verdict.threshold
    info = BUILTIN.get(t.key.name)
    shown = observed(info.type.value if info else "", t.aggregation, verdict.observed)
    what = f"{t.key} {t.source}"
    return Failure("threshold", what, verdict.observed, t.limit, f"{what} failed: {shown}")


# -- the outcome ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Conclusion:
    """What the steps judged so far say about the server's capacity."""

    held: StepResult | None  # the breaking point: the last step that held
    broke: StepResult | None  # the first step that did not
    complete: bool  # the search ended: a step broke, or every level held
    headline: str  # the short human value: "120 iterations/s", "not reached up to 200 iterations/s"
    reason: str  # one line for the run's verdict
    gate_ok: bool | None  # against min_breaking_point; None without one

    @property
    def found(self) -> bool:
        """A step broke after at least one held: the breaking point is known exactly (to a step)."""
        return self.held is not None and self.broke is not None

    def rate(self, plan: BreakpointPlan) -> float | None:
        """Iterations/s at the breaking point: the level held (arrival) or the throughput measured (VUs)."""
        if self.held is None:
            return 0.0 if self.broke is not None else None
        return self.held.level if plan.executor == ARRIVAL else self.held.throughput


def conclude(plan: BreakpointPlan, steps: Sequence[StepResult]) -> Conclusion:
    held = None
    for step in steps:
        if not step.held:
            break
        held = step
    broke = next((step for step in steps if not step.held), None)
    complete = broke is not None or len(steps) == len(plan.levels)
    if broke is not None:
        why = f"at {plan.show(broke.level)} {broke.failures[0].text}"
        more = len(broke.failures) - 1
        if more:
            why += f" (and {more} more)"
    if broke is not None and held is not None:
        headline = plan.show(held.level)
        reason = f"breaking point {headline}: {why}"
    elif broke is not None:
        headline = f"below {plan.show(plan.levels[0])}"
        reason = f"no step held, the first already broke: {why}; start the search lower (breakpoint.start)"
    elif complete:
        headline = f"not reached up to {plan.show(plan.levels[-1])}"
        reason = f"breaking point {headline}: every step held"
    elif held is not None:
        headline = f"at least {plan.show(held.level)}"
        reason = f"the search stopped before it ended: {plan.show(held.level)} held"
    else:
        headline, reason = "", "the search stopped before its first step ended"
    gate_ok: bool | None = None
    if plan.min_breaking_point is not None and complete:
        reached = held.level if held is not None else 0.0
        gate_ok = reached >= plan.min_breaking_point
        if not gate_ok and held is not None:  # with none held, that is the reason already
            reason = f"breaking point {headline} is below the minimum {plan.show(plan.min_breaking_point)}" + (
                f": {why}" if broke is not None else ""
            )
    return Conclusion(held, broke, complete, headline, reason, gate_ok)
