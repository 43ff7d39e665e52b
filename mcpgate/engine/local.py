"""The load in this process: every scenario's VUs on this event loop, the timeline ticked by the clock.

Each scenario waits for its start_time, then runs its executor (looping.py for
the closed model, arrival.py for the open one). A worker process runs its
shard the same way (``run_scenarios``), reporting instead of ticking.
"""

from __future__ import annotations

import asyncio
import contextlib

from mcpgate.engine.arrival import run_arrival
from mcpgate.engine.control import Control, ScenarioContext, sleep_until
from mcpgate.engine.driver import Host
from mcpgate.engine.looping import run_looping
from mcpgate.engine.shard import WHOLE, Shard
from mcpgate.engine.steps import LocalSteps
from mcpgate.metrics.recorder import ErrorLog, Recorder
from mcpgate.metrics.registry import Metrics
from mcpgate.plan.build import Plan, ScenarioPlan
from mcpgate.workload.flow import Flow


class LocalDriver:
    """The plan's scenarios (this process's shard of each, ``--shard``) run here, with ``flow``."""

    def __init__(self, plan: Plan, flow: Flow, *, shard: Shard = WHOLE) -> None:
        self.plan = plan
        self.flow = flow
        self.shard = shard
        self._work: asyncio.Task[None] | None = None
        self._steps: LocalSteps | None = None

    async def prepare(self, control: Control) -> None:
        """Nothing to start: the VUs are created as the scenarios need them."""

    async def close(self) -> None:
        """Nothing was started."""

    async def drive(self, host: Host, started: float) -> None:
        """The scenarios to their ends; meanwhile the timeline ticks and a search's steps are judged."""
        helpers: list[asyncio.Task[None]] = []
        if host.search is not None:
            self._steps = LocalSteps(host.search, host.metrics, started)  # before the first sample
            helpers.append(asyncio.create_task(self._steps.watch()))
        work = run_scenarios(
            self.plan,
            self.flow,
            metrics=host.metrics,
            errors=host.errors,
            control=host.control,
            started=started,
            shard=self.shard,
        )
        self._work = asyncio.create_task(work)
        helpers.append(asyncio.create_task(_ticker(host, started)))
        try:
            await self._work
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def halt(self) -> None:
        if self._work is not None:
            self._work.cancel()

    def finish(self, now: float) -> None:
        if self._steps is not None:
            self._steps.finish(now)


async def _ticker(host: Host, started: float) -> None:
    """One timeline point every interval, on the clock (a fleet ticks as its reports come in instead)."""
    loop = asyncio.get_running_loop()
    interval = host.interval
    due = started + interval
    while True:
        await asyncio.sleep(max(0.0, due - loop.time()))
        host.tick(loop.time() - started)
        due += interval


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
