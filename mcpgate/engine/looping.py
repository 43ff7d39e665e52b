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


class _Crew:
    """A looping scenario's VUs: started, retired and taken back into service as the ramp says."""

    def __init__(self, ctx: ScenarioContext, graceful_ramp_down: float) -> None:
        self.ctx = ctx
        self.graceful_ramp_down = graceful_ramp_down
        self.running: list[_Looper] = []  # in start order: the newest retires first, as in k6
        self.retiring: list[_Looper] = []
        self.idle: list[VirtualUser] = []  # VUs whose loop has ended, reused lowest number first
        self.tasks: set[asyncio.Task[None]] = set()
        self.allocated = 0

    def resize(self, target: int) -> None:
        while len(self.running) < target:
            self._spawn()
        while len(self.running) > target:
            looper = self.running.pop()
            looper.retire(self.graceful_ramp_down)
            self.retiring.append(looper)

    def retire_all(self) -> None:
        """The scenario is over: every VU stops after its iteration (drain() gives the grace, then interrupts)."""
        for looper in self.running:
            looper.retire(None)

    def _spawn(self) -> None:
        while self.retiring:
            looper = self.retiring.pop()
            if looper.recall():
                self.running.append(looper)
                return
        if self.idle:
            vu = self.idle.pop()
        else:
            self.allocated += 1
            vu = self.ctx.new_vu(self.allocated)
        looper = _Looper(vu)
        task = looper.task = asyncio.create_task(_loop(self.ctx, looper))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _: self._finished(looper))
        self.running.append(looper)

    def _finished(self, looper: _Looper) -> None:
        if looper in self.retiring:
            self.retiring.remove(looper)
        self.idle.append(looper.vu)
        self.idle.sort(key=lambda vu: -vu.number)


async def run_looping(
    ctx: ScenarioContext,
    steps: tuple[tuple[float, int], ...],
    duration: float,
    graceful_ramp_down: float,
    graceful_stop: float,
) -> None:
    """Follow the ramp's steps to the end of ``duration``, then give every VU graceful_stop to finish."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    crew = _Crew(ctx, graceful_ramp_down)
    try:
        for offset, target in steps:
            if not await sleep_until(loop, start + offset, ctx.control):
                break
            crew.resize(target)
        await sleep_until(loop, start + duration, ctx.control)
        crew.retire_all()
        await drain(crew.tasks, min(graceful_stop, ctx.control.grace_cap))
    finally:
        await cancel_all(crew.tasks)
