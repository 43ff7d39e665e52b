"""Runs a plan's load to its end, ticks the timeline, and watches abort thresholds.

The load itself is its driver's (driver.py): the scenarios' VUs in this
process (local.py), or spread over worker processes (fleet.py). The engine
keeps what is the same either way: the stop signal, the timeline, the abort
watch, the start time, the outcome. Every two seconds the thresholds marked
abort_on_fail are evaluated on the live metrics, and the first that fails
(after its delay_abort_eval) stops the run. With a start time
(``--start-at``), the driver gets ready first (the workers start), then the
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
from typing import Any, Protocol

from mcpgate.engine.control import WAKE_EVERY, Control
from mcpgate.engine.driver import Driver
from mcpgate.engine.steps import StepJudge, StepSearch
from mcpgate.metrics.keys import Observe
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import Metrics
from mcpgate.metrics.timeline import Timeline
from mcpgate.plan.build import Plan

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
    """The run as a whole: its load (made by its driver), the timeline, abort checks, the outcome."""

    def __init__(
        self,
        plan: Plan,
        driver: Driver,
        metrics: Metrics,
        errors: ErrorLog,
        *,
        interval: float,
        abort: AbortJudge | None = None,
        steps: StepJudge[Any] | None = None,
    ) -> None:
        self.plan = plan
        self.driver = driver
        self.metrics = metrics
        self.errors = errors
        self.interval = interval
        self.timeline = Timeline(metrics)
        self.control = Control()
        self.waiting_until: float | None = None  # unix time the load waits for, while it waits
        self.abort = abort
        self._aborted = False
        self._interrupted = False
        self._started = 0.0
        if (plan.breakpoint is None) != (steps is None):
            raise ValueError("a breakpoint search, and only one, runs with a step judge")
        self.search = StepSearch(steps, self.control, check_every=ABORT_CHECK_EVERY) if steps is not None else None

    def elapsed(self) -> float:
        return asyncio.get_running_loop().time() - self._started if self._started else 0.0

    def interrupt(self, grace: float) -> None:
        """Stop starting iterations; give the ones in flight at most ``grace`` seconds."""
        self._interrupted = True
        self.control.stop("interrupted", grace=grace)
        if grace <= 0:
            self.driver.halt()

    async def run(self, start_at: float | None = None) -> EngineOutcome:
        """Run to the end; with ``start_at`` (unix time), the load starts at that instant, t = 0 of the timeline."""
        await self.driver.prepare(self.control)  # starting the workers is not part of the run's time
        lag = 0.0
        if start_at is None:
            self._started = asyncio.get_running_loop().time()
        else:
            began = await self._wait_for(start_at)
            if began is None:  # stopped while waiting: no load was sent
                await self.driver.close()
                return EngineOutcome(0.0, False, self._interrupted, 0, started=False)
            self._started, lag = began
        await self._drive()
        elapsed = self.elapsed()
        self.driver.finish(asyncio.get_running_loop().time())
        self.tick(elapsed)
        interrupted = self.control.interrupted_iterations
        return EngineOutcome(elapsed, self._aborted, self._interrupted, interrupted, lag=lag)

    async def _drive(self) -> None:
        """The driver's load to its end, abort checks alongside; an interrupt's cancel is an end, not a failure."""
        load = asyncio.create_task(self.driver.drive(self, self._started))
        # A search checks abort_on_fail on each step instead.
        helpers = [asyncio.create_task(self._watch_thresholds())] if self.search is None else []
        try:
            await load
        except asyncio.CancelledError:
            if not self._interrupted:
                load.cancel()
                raise
        finally:
            for task in helpers:
                task.cancel()
            # The load finishes its own cleanup (cancelling and awaiting its VUs) before we report.
            for task in (*helpers, load):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

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
