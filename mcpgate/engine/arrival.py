"""Open-model executors (constant-arrival-rate, ramping-arrival-rate).

Iterations start on the schedule whatever the server's latency: a slow server
gets more concurrent iterations, not fewer (no coordinated omission). An
iteration that is due when no VU is free and maxVUs are all allocated is not
started but counted in dropped_iterations. There is no think time: an open
model's pacing is its rate. In a worker process, only the iterations of its
shard start here (every width-th); the others are its siblings'.
"""

from __future__ import annotations

import asyncio

from mcpgate.engine.control import WAKE_EVERY, ScenarioContext, cancel_all, drain
from mcpgate.plan.schedule import ArrivalSchedule
from mcpgate.workload.flow import VirtualUser


async def run_arrival(
    ctx: ScenarioContext,
    schedule: ArrivalSchedule,
    pre_allocated: int,
    max_vus: int,
    graceful_stop: float,
) -> None:
    """Start this shard's iterations on the schedule, then give the ones in flight graceful_stop to finish."""
    idle = [ctx.new_vu(i) for i in range(pre_allocated, 0, -1)]  # pop() hands out the lowest number first
    tasks: set[asyncio.Task[None]] = set()
    try:
        await _start_on_schedule(ctx, schedule, idle=idle, tasks=tasks, allocated=pre_allocated, max_vus=max_vus)
        await drain(tasks, min(graceful_stop, ctx.control.grace_cap))
    finally:
        try:
            await cancel_all(tasks)
        finally:
            await ctx.end_vus(idle)  # every VU is idle now: per-VU sessions end on the wire


async def _start_on_schedule(
    ctx: ScenarioContext,
    schedule: ArrivalSchedule,
    *,
    idle: list[VirtualUser],
    tasks: set[asyncio.Task[None]],
    allocated: int,
    max_vus: int,
) -> None:
    """Each iteration at its time, on an idle VU or a new one; dropped when all ``max_vus`` are busy."""
    loop = asyncio.get_running_loop()
    control = ctx.control

    async def one(vu: VirtualUser) -> None:
        control.active_vus += 1
        try:
            t0 = await ctx.work(vu)
            if t0 is not None:
                ctx.finish(t0)
        finally:
            control.active_vus -= 1
            idle.append(vu)

    shard = ctx.shard
    start = loop.time()
    started = 0
    while not control.stopping.is_set():
        due = schedule.count_until(loop.time() - start)
        for _ in range(shard.next_owned(started), due, shard.width):
            if idle:
                vu = idle.pop()
            elif allocated < max_vus:
                allocated += 1
                vu = ctx.new_vu(allocated)
            else:
                ctx.recorder.dropped()
                continue
            task = asyncio.create_task(one(vu))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        started = max(started, due)
        upcoming = schedule.offset(shard.next_owned(started))
        if upcoming is None:
            break
        left = start + upcoming - loop.time()
        await asyncio.sleep(min(max(left, 0.0), WAKE_EVERY))
