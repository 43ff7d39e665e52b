"""Which part of a plan one worker process runs, so N workers together run exactly the plan.

A scenario with ``max_vus`` VUs is spread over ``min(workers, max_vus)`` of them
(its width). VU number j (1-based within the scenario) belongs to worker
``(j - 1) % width``: at every step of a ramp each worker runs ``split_vus`` of
the target, the newest VUs retire first, and VU numbers stay the ones one
process would have used. An arrival-rate scenario's iteration n belongs to
worker ``n % width`` (``shard_of``), so each worker follows the same curve and
together they start every iteration at its exact time.

The split composes: ``mcpgate run --shard I/N`` gives its process part I of N
of every scenario (``Shard(I, N)``), and its workers split that part again
(``Shard(w, W, parent=Shard(I, N))``). The parts are residues: shard I holds
VU indices j = I (mod n) (n = the scenario's width over the shards), and its
worker w of width m holds j = I + n w (mod n m), a flat part of width n m. So
any number of shards, each with any number of workers, together hold every VU
number once, hold exactly the target at every step of a ramp, and start every
arrival-rate iteration once, at its own time.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mcpgate.plan.schedule import shard_of, split_vus

MAX_WORKERS = 256
MAX_SHARDS = 10_000  # --shard I/N: N at most this


@dataclass(frozen=True, slots=True)
class Shard:
    """Part ``index`` of ``count`` (of ``parent``'s part, when there is one); the whole plan when count is 1."""

    index: int = 0
    count: int = 1
    parent: Shard | None = None  # the --shard part this worker's process runs

    def of(self, max_vus: int) -> ScenarioShard | None:
        """This part of a scenario, or None when the scenario (or the parent's part) has fewer VUs than parts."""
        outer = WHOLE_SCENARIO if self.parent is None else self.parent.of(max_vus)
        if outer is None:
            return None
        width = max(1, min(self.count, outer.vus(max_vus)))
        return outer.split(self.index, width) if self.index < width else None

    def vus(self, max_vus: int) -> int:
        """How many of a scenario's ``max_vus`` VUs this part holds (0 when it sits the scenario out)."""
        part = self.of(max_vus)
        return part.vus(max_vus) if part is not None else 0

    def rows(self) -> tuple[int, int]:
        """(first, step) of the dataset rows this part takes in ``sequential`` order: k, k + n, k + 2n, ..."""
        first, step = (0, 1) if self.parent is None else self.parent.rows()
        return first + step * self.index, step * self.count


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

    def split(self, index: int, width: int) -> ScenarioShard:
        """Part ``index`` of ``width`` of this part: its VUs and iterations dealt round-robin again."""
        if not 0 <= index < width:
            raise ValueError(f"part index must be in [0, {width}), got {index}")
        return ScenarioShard(self.index + self.width * index, self.width * width)


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


_SHARD = re.compile(r"([0-9]{1,9})\s*/\s*([0-9]{1,9})")
_SHARD_HINT = "expected I/N with I counting from 0 to N-1, e.g. 0/3 for the first of three shards"


def parse_shard(text: str) -> Shard:
    """``I/N`` (``--shard``, the action's ``shard``); ValueError in words fit for the user.

    The index counts from 0, as Kubernetes' JOB_COMPLETION_INDEX and GitHub's strategy.job-index
    do, so either can be passed through unchanged.
    """
    found = _SHARD.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{_SHARD_HINT}, got {text!r}")
    index, count = int(found[1]), int(found[2])
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"the shard count must be from 1 to {MAX_SHARDS}, got {count}")
    if index >= count:
        raise ValueError(f"{_SHARD_HINT} (the last of {count} is {count - 1}/{count}), got {text!r}")
    return Shard(index, count)
