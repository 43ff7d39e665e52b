"""What every executor shares during a run: the stop signal and the live VU counts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from mcpgate.flow import Flow, VirtualUser
from mcpgate.recorder import Recorder

# The longest a scheduler sleeps in one go, so a stop is noticed within this time.
WAKE_EVERY = 0.1


@dataclass
class Control:
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = ""
    active_vus: int = 0
    allocated_vus: int = 0
    interrupted_iterations: int = 0
    grace_cap: float = float("inf")  # lowered when the run is interrupted: finish fast

    def stop(self, reason: str) -> None:
        if not self.stopping.is_set():
            self.stop_reason = reason
            self.stopping.set()


@dataclass
class ScenarioContext:
    """Everything one scenario's executor needs, and nothing else."""

    name: str
    flow: Flow
    recorder: Recorder
    control: Control
    think: Callable[[random.Random], float]
    seed: int | None

    def new_vu(self, number: int) -> VirtualUser:
        rng = random.Random(None if self.seed is None else hash((self.seed, self.name, number)))
        self.control.allocated_vus += 1
        return VirtualUser(number, rng)


async def sleep_until(loop: asyncio.AbstractEventLoop, deadline: float, control: Control) -> bool:
    """Sleep until ``deadline`` (loop time) unless the run is stopping; True if the deadline came."""
    while not control.stopping.is_set():
        left = deadline - loop.time()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, WAKE_EVERY))
    return False


async def drain(tasks: set[asyncio.Task[None]], grace: float) -> None:
    """Let running iterations finish for ``grace`` seconds, then interrupt the rest (they count themselves)."""
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
