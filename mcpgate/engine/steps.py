"""The breakpoint search while the run goes: each step's own metrics, judged when the step ends.

In one process the run's Metrics copies every sample into a window
(``Metrics.open_window``) that is swapped at each step boundary. With worker
processes each report covers one period of one worker, and a step lasts a
whole number of periods (run.py picks the timeline interval so), so every
report is absorbed into its step's own Metrics as it is into the run's, and a
step is judged once every running worker has reported to its end. Either way a
step's window holds exactly the samples taken during it: never diluted by the
steps before it, never missing the ones at its end.

The engine only says when a step ends; its judge (verdict.breakpoint.StepJudge,
handed in) says whether it held. The first step that breaks stops the run
(iterations in flight get a short grace). Thresholds marked abort_on_fail are
also checked on the step so far, every few seconds once their
delay_abort_eval into the step has passed, and cut a broken step short.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from mcpgate.config.thresholds import Threshold
from mcpgate.engine.control import Control
from mcpgate.engine.delta import Delta, absorb
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import Metrics
from mcpgate.plan.breakpoint import GRACE, BreakpointPlan

S_co = TypeVar("S_co", covariant=True)


class StepJudge(Protocol[S_co]):
    """What judges a search's steps (verdict.breakpoint.StepJudge): the engine says only when a step ends."""

    @property
    def plan(self) -> BreakpointPlan: ...
    @property
    def steps(self) -> Sequence[S_co]: ...
    @property
    def over(self) -> bool: ...
    @property
    def watching(self) -> bool: ...

    def judge(
        self, window: Metrics, seconds: float, *, partial: bool = False, lead: Threshold | None = None
    ) -> str | None:
        """Judge the next step on its own window; the reason the search stops there, or None."""
        ...

    def early(self, window: Metrics, seconds: float) -> Threshold | None:
        """An abort_on_fail threshold that fails on the step so far, if any."""
        ...


class StepSearch(Generic[S_co]):
    """Hands each step to its judge when it ends, and stops the run when the judge says the search is over."""

    def __init__(self, judge: StepJudge[S_co], control: Control, *, check_every: float) -> None:
        self.judge_of = judge
        self.plan = judge.plan
        self.control = control
        self.check_every = check_every

    @property
    def steps(self) -> Sequence[S_co]:
        return self.judge_of.steps

    @property
    def over(self) -> bool:
        return self.judge_of.over

    @property
    def watched(self) -> bool:
        return self.judge_of.watching

    def judge(self, window: Metrics, seconds: float, *, partial: bool = False, lead: Threshold | None = None) -> None:
        """The next step, on its own window of ``seconds``."""
        if self.over:
            return
        why = self.judge_of.judge(window, seconds, partial=partial, lead=lead)
        if why is not None:
            self.control.stop(why, grace=GRACE)

    def early(self, window: Metrics, seconds: float) -> Threshold | None:
        """An abort_on_fail threshold that fails on the step so far (``seconds`` into it), if any."""
        if self.over or not self.watched:
            return None
        return self.judge_of.early(window, seconds)


class LocalSteps:
    """One process: the run's Metrics copies every sample into a window, swapped at each step boundary."""

    def __init__(self, search: StepSearch[object], metrics: Metrics, started: float) -> None:
        self.search = search
        self.metrics = metrics
        self.started = started  # loop time
        self.opened = started  # where the current step's window began
        metrics.open_window()

    async def watch(self) -> None:
        """Until the search is over: judge each step as it ends, and check abort_on_fail on the step so far."""
        loop = asyncio.get_running_loop()
        search, plan = self.search, self.search.plan
        for index in range(len(plan.levels)):
            end = self.started + plan.span(index)[1]
            check_at = self.opened + search.check_every
            while (now := loop.time()) < end:
                await asyncio.sleep((min(end, check_at) if search.watched else end) - now)
                if search.control.stopping.is_set():
                    return  # interrupted: a step cut off by the stop was not held at its level
                now = loop.time()
                if search.watched and check_at <= now < end:
                    check_at += search.check_every
                    lead = search.early(self._current(), now - self.opened)
                    if lead is not None:
                        search.judge(self.metrics.take_window(), now - self.opened, partial=True, lead=lead)
                        return
            if search.control.stopping.is_set():
                return
            now = loop.time()
            search.judge(self.metrics.take_window(), now - self.opened)
            self.opened = now
            if search.over:
                return

    def finish(self, now: float) -> None:
        """The run is over: judge the step the schedule ended in, unless the run was stopped before."""
        window = self.metrics.close_window()
        if window is not None and not self.search.over and not self.search.control.stopping.is_set():
            self.search.judge(window, now - self.opened)

    def _current(self) -> Metrics:
        assert self.metrics.window is not None, "a breakpoint run keeps a window open from its start"
        return self.metrics.window


class FleetSteps:
    """Worker processes: each report into the window of the step it falls in, judged when complete."""

    def __init__(self, search: StepSearch[object], metrics: Metrics, period: float) -> None:
        self.search = search
        self.metrics = metrics  # the run's: every window starts with a twin of each of its series
        self.period = period
        self.per_step = max(1, round(search.plan.step_duration / period))
        self.check_reports = max(1, math.ceil(search.check_every / period - 1e-9))
        self.windows: dict[int, Metrics] = {}
        self._checked = 0

    def absorb(self, report: int, delta: Delta) -> None:
        """Report number ``report`` of one worker: its samples since its report before."""
        index = (report - 1) // self.per_step
        if self.search.over or index < len(self.search.steps) or index >= len(self.search.plan.levels):
            return  # after the search: its grace for the iterations in flight
        absorb(self._window(index), ErrorLog(), delta)

    def advance(self, through: int) -> None:
        """Every running worker has reported through report ``through``: judge what is complete."""
        search = self.search
        if search.control.stopping.is_set():
            return  # interrupted: a step cut off by the stop was not held at its level
        while not search.over and (len(search.steps) + 1) * self.per_step <= through:
            self._judge_next(self.per_step)
        if search.over or not search.watched:
            return
        done = through - len(search.steps) * self.per_step  # reports of the current step from every worker
        if done <= 0 or through - self._checked < self.check_reports:
            return
        self._checked = through
        seconds = done * self.period
        lead = search.early(self._window(len(search.steps)), seconds)
        if lead is not None:
            self._judge_next(done, lead)

    def finish(self) -> None:
        """Every worker is done: the step the schedule ended in is judged, unless the run was stopped."""
        if not self.search.control.stopping.is_set():
            while not self.search.over:
                self._judge_next(self.per_step)

    def _judge_next(self, reports: int, lead: Threshold | None = None) -> None:
        index = len(self.search.steps)
        window = self.windows.pop(index, None) or self.metrics.empty_like()
        self.search.judge(window, reports * self.period, partial=lead is not None, lead=lead)

    def _window(self, index: int) -> Metrics:
        window = self.windows.get(index)
        if window is None:
            window = self.windows[index] = self.metrics.empty_like()
        return window
