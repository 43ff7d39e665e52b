"""Which part of a plan one worker process runs, so N workers together run exactly the plan.

A scenario with ``max_vus`` VUs is spread over ``min(workers, max_vus)`` of them
(its width). VU number j (1-based within the scenario) belongs to worker
``(j - 1) % width``: at every step of a ramp each worker runs ``split_vus`` of
the target, the newest VUs retire first, and VU numbers stay the ones one
process would have used. An arrival-rate scenario's iteration n belongs to
worker ``n % width`` (``shard_of``), so each worker follows the same curve and
together they start every iteration at its exact time.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from mcpgate.engine.schedule import shard_of, split_vus

MAX_WORKERS = 256


@dataclass(frozen=True, slots=True)
class Shard:
    """Worker ``index`` of ``count``; the whole plan when count is 1."""

    index: int = 0
    count: int = 1

    def of(self, max_vus: int) -> ScenarioShard | None:
        """This worker's part of a scenario, or None when the scenario has fewer VUs than workers."""
        width = max(1, min(self.count, max_vus))
        return ScenarioShard(self.index, width) if self.index < width else None


WHOLE = Shard()


@dataclass(frozen=True, slots=True)
class ScenarioShard:
    index: int
    width: int

    def vus(self, total: int) -> int:
        return split_vus(total, self.width, self.index)

    def steps(self, steps: tuple[tuple[float, int], ...]) -> tuple[tuple[float, int], ...]:
        """A looping scenario's (offset, VUs) steps, as this worker's share of each."""
        mine: list[tuple[float, int]] = []
        for offset, target in steps:
            share = self.vus(target)
            if mine and mine[-1][1] == share:
                continue
            mine.append((offset, share))
        return tuple(mine)

    def vu_number(self, first_vu: int, index: int) -> int:
        """The run-wide number of this worker's ``index``-th VU (1-based) in the scenario."""
        return first_vu + (index - 1) * self.width + self.index

    def owns(self, iteration: int) -> bool:
        return shard_of(iteration, self.width) == self.index

    def next_owned(self, iteration: int) -> int:
        """The first iteration at or after ``iteration`` that this worker runs."""
        return iteration + (self.index - iteration) % self.width


WHOLE_SCENARIO = ScenarioShard(0, 1)


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, and a container's CPU quota when it has one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cgroup_quota() -> float | None:
    """cgroup v2 ``cpu.max`` (``"max 100000"`` or ``"150000 100000"``), else v1's cfs files."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if len(text) == 2 and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def choose_workers(requested: int | None, max_vus: int) -> int:
    """``requested`` workers, or one per available core; never more than there are VUs to spread."""
    wanted = requested if requested is not None and requested > 0 else available_cores()
    return max(1, min(wanted, max_vus))
