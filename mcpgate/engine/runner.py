"""Runs a plan's scenarios side by side, ticks the timeline, and watches abort thresholds.

Each scenario waits for its start_time, then runs its executor (looping.py for
the closed model, arrival.py for the open one). A ticker closes one timeline
interval at a time; every two seconds the thresholds marked abort_on_fail are
evaluated on the live metrics, and the first that fails (after its
delay_abort_eval) stops the run.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from mcpgate.engine.arrival import run_arrival
from mcpgate.engine.control import Control, ScenarioContext, sleep_until
from mcpgate.engine.looping import run_looping
from mcpgate.flow import Flow
from mcpgate.metrics import Metrics
from mcpgate.plan import Plan, ScenarioPlan
from mcpgate.recorder import ErrorLog, Recorder
from mcpgate.thresholds import Verdict, evaluate_all, should_abort
from mcpgate.timeline import Timeline

ABORT_CHECK_EVERY = 2.0  # seconds, as k6
ABORT_GRACE = 3.0  # seconds iterations in flight may finish after an abort (or an interrupt)


def default_interval(duration: float) -> float:
    """About 300 points per run, between 1 and 10 seconds each."""
    return float(min(10, max(1, round(duration / 300))))


@dataclass
class EngineOutcome:
    duration: float
    aborted_by: Verdict | None
    interrupted: bool
    interrupted_iterations: int


class Engine:
    def __init__(
        self,
        plan: Plan,
        flow: Flow,
        metrics: Metrics,
        errors: ErrorLog,
        *,
        interval: float,
    ) -> None:
        self.plan = plan
        self.flow = flow
        self.metrics = metrics
        self.errors = errors
        self.interval = interval
        self.timeline = Timeline(metrics)
        self.control = Control()
        self._aborted_by: Verdict | None = None
        self._interrupted = False
        self._started = 0.0
        self._scenarios: list[asyncio.Task[None]] = []

    def elapsed(self) -> float:
        return asyncio.get_running_loop().time() - self._started if self._started else 0.0

    def interrupt(self, grace: float) -> None:
        """Stop starting iterations; give the ones in flight at most ``grace`` seconds."""
        self._interrupted = True
        self.control.stop("interrupted", grace=grace)
        if grace <= 0:
            for task in self._scenarios:
                task.cancel()

    async def run(self) -> EngineOutcome:
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        self._scenarios = [asyncio.create_task(self._scenario(sp)) for sp in self.plan.scenarios]
        ticker = asyncio.create_task(self._ticker())
        watcher = asyncio.create_task(self._watch_thresholds())
        try:
            await asyncio.gather(*self._scenarios)
        except asyncio.CancelledError:
            if not self._interrupted:
                for task in self._scenarios:
                    task.cancel()
                raise
        finally:
            for task in (ticker, watcher):
                task.cancel()
            # Each scenario finishes its own cleanup (cancelling and awaiting its VUs) before we report.
            for task in (ticker, watcher, *self._scenarios):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        elapsed = self.elapsed()
        self._tick(elapsed)
        return EngineOutcome(elapsed, self._aborted_by, self._interrupted, self.control.interrupted_iterations)

    async def _scenario(self, sp: ScenarioPlan) -> None:
        loop = asyncio.get_running_loop()
        if not await sleep_until(loop, self._started + sp.start_time, self.control):
            return
        ctx = ScenarioContext(
            sp.name,
            self.flow,
            Recorder(self.metrics, sp.name, self.errors),
            self.control,
            self.plan.think_time(),
            self.plan.config.seed,
            self.plan.first_vu(sp.name),
        )
        if sp.schedule is not None:
            await run_arrival(ctx, sp.schedule, sp.pre_allocated, sp.max_vus, sp.graceful_stop)
        else:
            await run_looping(ctx, sp.steps, sp.duration, sp.graceful_ramp_down, sp.graceful_stop)

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._started + self.interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self._tick(loop.time() - self._started)
            due += self.interval

    def _tick(self, elapsed: float) -> None:
        control = self.control
        self.metrics.elapsed = elapsed
        self.metrics.gauge("vus").set(control.active_vus)
        self.metrics.gauge("vus_max").set(control.allocated_vus)
        if self.timeline.points and elapsed - self.timeline.points[-1].t < 0.05:
            return  # the final tick right after a regular one would be an empty sliver
        self.timeline.tick(elapsed, control.active_vus, control.allocated_vus)

    async def _watch_thresholds(self) -> None:
        watched = [t for t in self.plan.thresholds if t.abort_on_fail]
        if not watched:
            return
        while not self.control.stopping.is_set():
            await asyncio.sleep(ABORT_CHECK_EVERY)
            elapsed = self.elapsed()
            self.metrics.elapsed = elapsed
            verdicts = evaluate_all(watched, self.metrics.observe)
            failed = should_abort(verdicts, elapsed)
            if failed is not None:
                self._aborted_by = failed
                reason = f"threshold {failed.threshold.key} {failed.threshold.source} failed"
                self.control.stop(reason, grace=ABORT_GRACE)
                return
