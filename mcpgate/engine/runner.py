"""Runs a plan's scenarios side by side, ticks the timeline, and watches abort thresholds.

Each scenario waits for its start_time, then runs its executor (looping.py for
the closed model, arrival.py for the open one), in this process or spread over
worker processes (fleet.py). A ticker closes one timeline interval at a time;
every two seconds the thresholds marked abort_on_fail are evaluated on the live
metrics, and the first that fails (after its delay_abort_eval) stops the run.
With a start time (``--start-at``), the workers are started first, then the
run waits for that instant, which becomes its t = 0.
A breakpoint search judges each step on its own samples instead (steps.py),
and stops the run at the first step that breaks. The engine judges nothing
itself: the abort check and a search's step judge are handed in (verdict/).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mcpgate.engine.arrival import run_arrival
from mcpgate.engine.control import WAKE_EVERY, Control, ScenarioContext, sleep_until
from mcpgate.engine.looping import run_looping
from mcpgate.engine.shard import WHOLE, Shard
from mcpgate.engine.steps import LocalSteps, StepJudge, StepSearch
from mcpgate.metrics.keys import Observe
from mcpgate.metrics.recorder import ErrorLog, Recorder
from mcpgate.metrics.registry import Metrics
from mcpgate.metrics.timeline import Timeline
from mcpgate.plan.build import Plan, ScenarioPlan
from mcpgate.workload.flow import Flow

if TYPE_CHECKING:
    from mcpgate.engine.fleet import Fleet

ABORT_CHECK_EVERY = 2.0  # seconds, as k6
ABORT_GRACE = 3.0  # seconds iterations in flight may finish after an abort (or an interrupt)


def default_interval(duration: float) -> float:
    """About 300 points per run, between 1 and 10 seconds each."""
    return float(min(10, max(1, round(duration / 300))))


class AbortJudge(Protocol):
    """What watches the live metrics for a reason to stop (verdict.thresholds.AbortWatch)."""

    @property
    def watching(self) -> bool: ...

    def check(self, observe: Observe, elapsed: float) -> str | None:
        """Why the run stops now, or None."""
        ...


@dataclass
class EngineOutcome:
    duration: float
    aborted: bool  # the abort judge stopped the run
    interrupted: bool
    interrupted_iterations: int
    started: bool = True  # False: stopped while it waited for its start time, before any load
    lag: float = 0.0  # seconds the load started after its start time (it had passed already)


class Engine:
    """The run as a whole: its scenarios (here, or in worker processes), the timeline, abort checks."""

    def __init__(
        self,
        plan: Plan,
        flow: Flow | None,
        metrics: Metrics,
        errors: ErrorLog,
        *,
        interval: float,
        fleet: Fleet | None = None,
        shard: Shard = WHOLE,
        abort: AbortJudge | None = None,
        steps: StepJudge[Any] | None = None,
    ) -> None:
        if flow is None and fleet is None:
            raise ValueError("an engine runs its scenarios with a flow here, or with a fleet of workers")
        self.plan = plan
        self.flow = flow
        self.metrics = metrics
        self.errors = errors
        self.interval = interval
        self.timeline = Timeline(metrics)
        self.control = Control()
        self.fleet = fleet
        self.shard = shard  # this process's part of every scenario (--shard); a fleet splits it again
        self.waiting_until: float | None = None  # unix time the load waits for, while it waits
        self.abort = abort
        self._aborted = False
        self._interrupted = False
        self._started = 0.0
        self._scenarios: list[asyncio.Task[None]] = []
        if (plan.breakpoint is None) != (steps is None):
            raise ValueError("a breakpoint search, and only one, runs with a step judge")
        self.search = StepSearch(steps, self.control, check_every=ABORT_CHECK_EVERY) if steps is not None else None

    def elapsed(self) -> float:
        return asyncio.get_running_loop().time() - self._started if self._started else 0.0

    def interrupt(self, grace: float) -> None:
        """Stop starting iterations; give the ones in flight at most ``grace`` seconds."""
        self._interrupted = True
        self.control.stop("interrupted", grace=grace)
        if grace <= 0 and self.fleet is None:  # workers hear of the stop and end on their own
            for task in self._scenarios:
                task.cancel()

    async def run(self, start_at: float | None = None) -> EngineOutcome:
        """Run to the end; with ``start_at`` (unix time), the load starts at that instant, t = 0 of the timeline."""
        loop = asyncio.get_running_loop()
        fleet = self.fleet
        if fleet is not None:
            await fleet.start(self.control)  # starting the workers is not part of the run's time
        lag = 0.0
        if start_at is None:
            self._started = loop.time()
        else:
            began = await self._wait_for(start_at)
            if began is None:  # stopped while waiting: no load was sent
                if fleet is not None:
                    await fleet.close()
                return EngineOutcome(0.0, False, self._interrupted, 0, started=False)
            self._started, lag = began
        helpers: list[asyncio.Task[None]] = []
        local_steps: LocalSteps | None = None
        if self.search is not None and fleet is None:
            local_steps = LocalSteps(self.search, self.metrics, self._started)  # before the first sample
            helpers.append(asyncio.create_task(local_steps.watch()))
        if fleet is not None:
            self._scenarios = [asyncio.create_task(fleet.drive(self, self._started))]
        else:
            assert self.flow is not None
            work = run_scenarios(
                self.plan,
                self.flow,
                metrics=self.metrics,
                errors=self.errors,
                control=self.control,
                started=self._started,
                shard=self.shard,
            )
            self._scenarios = [asyncio.create_task(work)]
            helpers.append(asyncio.create_task(self._ticker()))  # a fleet ticks as its reports come in
        if self.search is None:  # a search checks abort_on_fail on each step instead
            helpers.append(asyncio.create_task(self._watch_thresholds()))
        try:
            await asyncio.gather(*self._scenarios)
        except asyncio.CancelledError:
            if not self._interrupted:
                for task in self._scenarios:
                    task.cancel()
                raise
        finally:
            for task in helpers:
                task.cancel()
            # The scenarios finish their own cleanup (cancelling and awaiting their VUs) before we report.
            for task in (*helpers, *self._scenarios):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        elapsed = self.elapsed()
        if local_steps is not None:
            local_steps.finish(loop.time())
        self.tick(elapsed)
        interrupted = self.control.interrupted_iterations
        return EngineOutcome(elapsed, self._aborted, self._interrupted, interrupted, lag=lag)

    async def _wait_for(self, start_at: float) -> tuple[float, float] | None:
        """Sleep until the unix time ``start_at``: its loop time and the lag, or None if the run was stopped.

        The wall clock is read again at every wake, so the start follows the clock the other shards
        follow (stepped by NTP meanwhile or not). A start already past begins now, not in the past:
        iterations overdue by then would all start at once.
        """
        loop = asyncio.get_running_loop()
        self.waiting_until = start_at
        try:
            while not self.control.stopping.is_set():
                left = start_at - time.time()
                if left <= 0:
                    now = loop.time()
                    if left > -WAKE_EVERY:  # the instant came while we slept: it is t = 0, to the clock's tick
                        return now + left, 0.0
                    return now, -left
                await asyncio.sleep(min(left, WAKE_EVERY))
            return None
        finally:
            self.waiting_until = None

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._started + self.interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.tick(loop.time() - self._started)
            due += self.interval

    def tick(self, elapsed: float) -> None:
        """Close the timeline interval that ends ``elapsed`` seconds into the run."""
        control = self.control
        self.metrics.elapsed = elapsed
        self.metrics.gauge("vus").set(control.active_vus)
        self.metrics.gauge("vus_max").set(control.allocated_vus)
        if self.timeline.points and elapsed - self.timeline.points[-1].t < 0.05:
            return  # the final tick right after a regular one would be an empty sliver
        self.timeline.tick(elapsed, control.active_vus, control.allocated_vus)

    async def _watch_thresholds(self) -> None:
        abort = self.abort
        if abort is None or not abort.watching:
            return
        while not self.control.stopping.is_set():
            await asyncio.sleep(ABORT_CHECK_EVERY)
            elapsed = self.elapsed()
            self.metrics.elapsed = elapsed
            reason = abort.check(self.metrics.observe, elapsed)
            if reason is not None:
                self._aborted = True
                self.control.stop(reason, grace=ABORT_GRACE)
                return


async def run_scenarios(
    plan: Plan,
    flow: Flow,
    *,
    metrics: Metrics,
    errors: ErrorLog,
    control: Control,
    started: float,
    shard: Shard,
) -> None:
    """Every scenario of the plan (this process's shard of each), side by side, to their ends."""
    runs: list[asyncio.Task[None]] = []
    for sp in plan.scenarios:
        part = shard.of(sp.max_vus)
        if part is None:
            continue
        ctx = ScenarioContext(
            sp.name,
            flow,
            Recorder(metrics, sp.name, errors),
            control,
            plan.think_time(),
            plan.config.seed,
            plan.first_vu(sp.name),
            part,
        )
        runs.append(asyncio.create_task(_scenario(ctx, sp, started)))
    try:
        await asyncio.gather(*runs)
    finally:  # one scenario's bug, or a cancel: none of the others outlives this call
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)


async def _scenario(ctx: ScenarioContext, sp: ScenarioPlan, started: float) -> None:
    loop = asyncio.get_running_loop()
    if not await sleep_until(loop, started + sp.start_time, ctx.control):
        return
    part = ctx.shard
    if sp.schedule is not None:
        await run_arrival(ctx, sp.schedule, part.vus(sp.pre_allocated), part.vus(sp.max_vus), sp.graceful_stop)
    else:
        await run_looping(ctx, part.steps(sp.steps), sp.duration, sp.graceful_ramp_down, sp.graceful_stop)
