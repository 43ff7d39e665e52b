"""Closed-model executors (constant-vus, ramping-vus): each VU loops iterations.

The number of running VUs follows the plan's precomputed steps (see
schedule.ramping_vus_steps). A VU that is no longer needed finishes its
current iteration (up to graceful_ramp_down), then stops; if the ramp turns
back up first, that VU is taken back into service, as in k6. At the end every
VU gets graceful_stop to finish, then is interrupted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mcpgate.engine.control import ScenarioContext, cancel_all, drain, sleep_until
from mcpgate.workload.flow import VirtualUser


@dataclass(eq=False)
class _Looper:
    vu: VirtualUser
    task: asyncio.Task[None] | None = None
    retiring: bool = False
    thinking: bool = False
    cancel_handle: asyncio.TimerHandle | None = field(default=None, repr=False)

    def retire(self, grace: float | None) -> None:
        """Stop after the current iteration; with a grace, interrupt it once the grace is over."""
        if self.retiring or self.task is None:
            return
        self.retiring = True
        if self.thinking:
            self.task.cancel()  # between iterations: nothing to lose
        elif grace is not None and not self.task.done():
            self.cancel_handle = asyncio.get_running_loop().call_later(grace, self.task.cancel)

    def recall(self) -> bool:
        """Back into service before it stopped; False if it is already gone."""
        if self.task is None or self.task.done() or self.task.cancelling():
            return False
        self.retiring = False
        if self.cancel_handle is not None:
            self.cancel_handle.cancel()
            self.cancel_handle = None
        return True


async def _loop(ctx: ScenarioContext, looper: _Looper) -> None:
    control = ctx.control
    control.active_vus += 1
    try:
        while not looper.retiring and not control.stopping.is_set():
            t0 = await ctx.work(looper.vu)
            if t0 is None:
                continue
            pause = ctx.think(looper.vu.rng)
            if pause <= 0 or looper.retiring or control.stopping.is_set():
                ctx.finish(t0)
                continue
            looper.thinking = True
            try:
                await asyncio.sleep(pause)
            finally:
                looper.thinking = False
                ctx.finish(t0)
    except asyncio.CancelledError:
        if not (looper.retiring or control.stopping.is_set()):
            raise
    finally:
        control.active_vus -= 1
        if looper.cancel_handle is not None:
            looper.cancel_handle.cancel()
        await ctx.end_vu(looper.vu)  # a per-VU session (or an interrupted one) ends on the wire


async def run_looping(
    ctx: ScenarioContext,
    steps: tuple[tuple[float, int], ...],
    duration: float,
    graceful_ramp_down: float,
    graceful_stop: float,
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    running: list[_Looper] = []  # in start order: the newest retires first, as in k6
    retiring: list[_Looper] = []
    idle: list[VirtualUser] = []  # VUs whose loop has ended, reused lowest number first
    tasks: set[asyncio.Task[None]] = set()
    allocated = 0

    def finished(looper: _Looper) -> None:
        if looper in retiring:
            retiring.remove(looper)
        idle.append(looper.vu)
        idle.sort(key=lambda vu: -vu.number)

    def spawn() -> None:
        nonlocal allocated
        while retiring:
            looper = retiring.pop()
            if looper.recall():
                running.append(looper)
                return
        if idle:
            vu = idle.pop()
        else:
            allocated += 1
            vu = ctx.new_vu(allocated)
        looper = _Looper(vu)
        task = looper.task = asyncio.create_task(_loop(ctx, looper))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(lambda _: finished(looper))
        running.append(looper)

    try:
        for offset, target in steps:
            if not await sleep_until(loop, start + offset, ctx.control):
                break
            while len(running) < target:
                spawn()
            while len(running) > target:
                looper = running.pop()
                looper.retire(graceful_ramp_down)
                retiring.append(looper)
        await sleep_until(loop, start + duration, ctx.control)
        for looper in running:
            looper.retire(None)  # drain() gives the grace, then interrupts
        await drain(tasks, min(graceful_stop, ctx.control.grace_cap))
    finally:
        await cancel_all(tasks)
