"""Closed-model executors (constant-vus, ramping-vus): each VU loops iterations.

The number of running VUs follows the plan's precomputed steps (see
schedule.ramping_vus_steps). A VU that is no longer needed finishes its
current iteration (up to graceful_ramp_down), then stops; at the end every VU
gets graceful_stop to finish, then is interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from dataclasses import dataclass, field

from mcpgate.engine.control import ScenarioContext, drain, sleep_until
from mcpgate.flow import VirtualUser


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


async def _loop(ctx: ScenarioContext, looper: _Looper) -> None:
    control, vu = ctx.control, looper.vu
    control.active_vus += 1
    try:
        while not looper.retiring and not control.stopping.is_set():
            try:
                await ctx.flow.iteration(vu, ctx.recorder)
            except asyncio.CancelledError:
                control.interrupted_iterations += 1
                raise
            pause = ctx.think(vu.rng)
            if pause > 0 and not looper.retiring:
                looper.thinking = True
                try:
                    await asyncio.sleep(pause)
                except asyncio.CancelledError:
                    if looper.retiring or control.stopping.is_set():
                        return
                    raise
                finally:
                    looper.thinking = False
    finally:
        control.active_vus -= 1
        if looper.cancel_handle is not None:
            looper.cancel_handle.cancel()


async def run_looping(
    ctx: ScenarioContext,
    steps: tuple[tuple[float, int], ...],
    duration: float,
    graceful_ramp_down: float,
    graceful_stop: float,
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    running: list[_Looper] = []
    tasks: set[asyncio.Task[None]] = set()
    free: list[int] = []  # VU numbers given back by retired VUs, reused lowest first
    next_number = 1
    vus: dict[int, VirtualUser] = {}

    def spawn() -> None:
        nonlocal next_number
        if free:
            number = heapq.heappop(free)
        else:
            number, next_number = next_number, next_number + 1
        vu = vus.get(number) or vus.setdefault(number, ctx.new_vu(number))
        looper = _Looper(vu)
        looper.task = asyncio.create_task(_loop(ctx, looper))
        tasks.add(looper.task)
        looper.task.add_done_callback(tasks.discard)
        running.append(looper)

    for offset, target in steps:
        if not await sleep_until(loop, start + offset, ctx.control):
            break
        running[:] = [r for r in running if r.task is not None and not r.task.done()]
        while len(running) < target:
            spawn()
        while len(running) > target:
            looper = running.pop()  # the newest VU goes first, as in k6
            looper.retire(graceful_ramp_down)
            heapq.heappush(free, looper.vu.number)
    with contextlib.suppress(asyncio.CancelledError):
        await sleep_until(loop, start + duration, ctx.control)
    for looper in running:
        looper.retire(None)  # drain() gives the grace, then interrupts
    await drain(tasks, min(graceful_stop, ctx.control.grace_cap))
