"""What every executor shares during a run: the stop signal, the live VU counts, and VU creation."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mcpgate.engine.shard import WHOLE_SCENARIO, ScenarioShard
from mcpgate.metrics.recorder import Recorder
from mcpgate.workload.flow import Flow, VirtualUser

# The longest a scheduler sleeps in one go, so a stop is noticed within this time.
WAKE_EVERY = 0.1
# After an unexpected error inside a VU (a bug in mcpgate, never a server failure), wait this long
# before its next iteration, so a bug cannot spin a VU in a tight loop.
AFTER_INTERNAL_ERROR = 1.0


@dataclass
class Control:
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = ""
    active_vus: int = 0
    allocated_vus: int = 0
    interrupted_iterations: int = 0
    grace_cap: float = float("inf")  # lowered when the run is interrupted or aborted: finish fast
    # Told of every stop (worker processes must hear of each, a second one lowers the grace).
    on_stop: Callable[[str, float], None] | None = None

    def stop(self, reason: str, grace: float | None = None) -> None:
        if grace is not None:
            self.grace_cap = min(self.grace_cap, grace)
        if not self.stopping.is_set():
            self.stop_reason = reason
            self.stopping.set()
        if self.on_stop is not None:
            self.on_stop(self.stop_reason, self.grace_cap)


@dataclass
class ScenarioContext:
    """Everything one scenario's executor needs, and nothing else."""

    name: str
    flow: Flow
    recorder: Recorder
    control: Control
    think: Callable[[random.Random], float]
    seed: int | None
    first_vu: int = 1  # VU numbers are global across scenarios, as k6's __VU
    shard: ScenarioShard = WHOLE_SCENARIO  # this process's part of the scenario

    def new_vu(self, index: int) -> VirtualUser:
        """This process's ``index``-th VU (1-based); the same seed gives it the same random stream."""
        number = self.shard.vu_number(self.first_vu, index)
        # A string seed is hashed with SHA-512 by random.Random: the same in every process.
        rng = random.Random(None if self.seed is None else f"{self.seed}:{self.name}:{number}")
        self.control.allocated_vus += 1
        return VirtualUser(number, rng)

    async def work(self, vu: VirtualUser) -> float | None:
        """Run one iteration's MCP flow; its start time, or None if a bug stopped it."""
        t0 = time.perf_counter()
        try:
            await self.flow.iteration(vu, self.recorder)
        except asyncio.CancelledError:
            self.control.interrupted_iterations += 1
            raise
        except Exception as exc:  # a bug: keep the run and its evidence, and say so in the results
            self.recorder.internal_error(exc)
            await asyncio.sleep(AFTER_INTERNAL_ERROR)
            return None
        return t0

    def finish(self, t0: float) -> None:
        """The iteration is over (think time included, as in k6)."""
        self.recorder.iteration(time.perf_counter() - t0)

    async def end_vu(self, vu: VirtualUser) -> None:
        """The VU stops: its open MCP session ends on the wire, within what is left of the run's grace
        (the request timeout when the run is not being cut short; at once, silently, when it is)."""
        if vu.opened_at is None:
            return
        grace = self.control.grace_cap
        try:
            await self.flow.end(vu, self.recorder, grace if grace != float("inf") else self.flow.timeout)
        except Exception as exc:  # a bug: the VU is stopping anyway; keep the evidence
            self.recorder.internal_error(exc)

    async def end_vus(self, vus: Iterable[VirtualUser]) -> None:
        open_ = [vu for vu in vus if vu.opened_at is not None]
        if open_:
            await asyncio.gather(*(self.end_vu(vu) for vu in open_))


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
        await cancel_all(pending)


async def cancel_all(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel and wait: no VU task outlives its executor, even when the executor itself is cancelled.

    The wait is finished even if this coroutine is cancelled meanwhile (the VUs are already
    cancelled, so it is short), and the cancellation is passed on afterwards: otherwise the
    run would report before its interrupted iterations had counted themselves.
    """
    pending = {t for t in tasks if not t.done()}
    for task in pending:
        task.cancel()
    cancelled = False
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
