"""The breakpoint search, planned: a ladder of load levels and the schedule that climbs it.

The plan is pure: the levels, how long each holds, the limits, and the
schedule of the one scenario that climbs the ladder (an arrival rate that
jumps at each step boundary, or a VU count that does). While the run goes,
engine/steps.py keeps each step's samples apart from the rest, and
verdict/breakpoint.py judges each step on them alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcpgate.config.base import MAX_VUS
from mcpgate.config.models import BreakpointConfig
from mcpgate.plan.schedule import ArrivalSchedule, Stage
from mcpgate.support.durations import format_duration

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
