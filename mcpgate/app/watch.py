"""What a person watching a run sees while it goes: progress lines, and each breakpoint step as it is judged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from mcpgate.engine.runner import Engine
from mcpgate.engine.shard import Shard
from mcpgate.metrics.recorder import STREAMS_OPEN
from mcpgate.metrics.timeline import Point
from mcpgate.plan.breakpoint import BreakpointPlan
from mcpgate.plan.build import Plan
from mcpgate.report.breakpoint import step_line
from mcpgate.report.progress import Progress, progress_line
from mcpgate.support.durations import format_duration
from mcpgate.support.startat import iso
from mcpgate.verdict.breakpoint import StepResult


def step_lines(search: BreakpointPlan, progress: Progress) -> Callable[[StepResult], None]:
    """A line for each step of a breakpoint search as it is judged."""

    def show(step: StepResult) -> None:
        progress.note(step_line(search, step))

    return show


def waiting_line(start_at: float, shard: Shard | None) -> str:
    """The line shown while the load waits for ``--start-at``."""
    who = f"shard {shard.index}/{shard.count}: " if shard is not None else ""
    left = format_duration(round(max(0.0, start_at - time.time())))
    return f"{who}the preflight passed; the load starts at {iso(start_at)} (in {left})"


async def report_progress(engine: Engine, plan: Plan, progress: Progress) -> None:
    """A progress line every few seconds, until cancelled."""
    last_t, last_reqs = 0.0, 0.0
    total = plan.duration
    while True:
        await asyncio.sleep(progress.every)
        if engine.waiting_until is not None:
            left = max(0.0, engine.waiting_until - time.time())
            progress.show(f"waiting for the start at {iso(engine.waiting_until)}: {format_duration(round(left))} to go")
            continue
        m = engine.metrics
        elapsed = engine.elapsed()
        reqs = m.counter_total("http_reqs") or 0.0
        rps = (reqs - last_reqs) / (elapsed - last_t) if elapsed > last_t else 0.0
        last_t, last_reqs = elapsed, reqs
        passed, checked = m.rate_totals("checks")
        error_rate = (checked - passed) / checked if checked else None
        point: Point | None = engine.timeline.points[-1] if engine.timeline.points else None
        control = engine.control
        progress.show(
            progress_line(
                elapsed=elapsed,
                total=total,
                vus=control.active_vus,
                vus_max=control.allocated_vus,
                iterations=m.counter_total("iterations") or 0,
                rps=rps,
                error_rate=error_rate,
                p95=point.p95 if point else None,
                streams=m.aggregate(STREAMS_OPEN, (), "value"),  # None until a stream was held
            )
        )
