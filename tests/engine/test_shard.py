"""Shards: N workers together run exactly the plan one process would run."""

from __future__ import annotations

import bisect
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpgate.engine.schedule import ArrivalSchedule, Stage, ramping_vus_steps
from mcpgate.engine.shard import ScenarioShard, Shard, choose_workers


def at(steps: tuple[tuple[float, int], ...], t: float) -> int:
    """The VU count a step list holds at time t (the last step at or before t)."""
    offsets = [offset for offset, _ in steps]
    i = bisect.bisect_right(offsets, t) - 1
    return steps[i][1] if i >= 0 else 0


stages = st.lists(
    st.tuples(st.integers(1, 20), st.integers(0, 40)).map(lambda d: Stage(float(d[0]), d[1])), min_size=1, max_size=5
)


@given(start=st.integers(0, 40), plan=stages, workers=st.integers(1, 9))
def test_worker_steps_add_up_to_the_plan_at_every_moment(start: int, plan: list[Stage], workers: int) -> None:
    steps = tuple(ramping_vus_steps(start, plan))
    top = max(target for _, target in steps)
    parts = [p for i in range(workers) if (p := Shard(i, workers).of(max(top, 1))) is not None]
    mine = [part.steps(steps) for part in parts]
    for offset, target in steps:
        assert sum(at(m, offset) for m in mine) == target
    for m in mine:  # no step repeats the count before it: each is a change
        assert all(a[1] != b[1] for a, b in itertools.pairwise(m))


@given(max_vus=st.integers(1, 60), workers=st.integers(1, 9), first=st.integers(1, 100))
def test_vu_numbers_are_the_scenarios_own_with_none_twice(max_vus: int, workers: int, first: int) -> None:
    numbers = []
    for i in range(workers):
        part = Shard(i, workers).of(max_vus)
        if part is None:
            assert i >= max_vus  # only a worker beyond the VU count sits a scenario out
            continue
        numbers += [part.vu_number(first, k) for k in range(1, part.vus(max_vus) + 1)]
    assert sorted(numbers) == list(range(first, first + max_vus))


@given(vus=st.integers(0, 59), workers=st.integers(1, 9))
def test_the_next_vu_up_is_the_newest_vu_of_the_worker_that_grows(vus: int, workers: int) -> None:
    """Ramping up from n to n + 1 starts VU n + 1 in one process; ramping down retires it there."""
    grown = [
        (part, part.vus(vus + 1))
        for i in range(workers)
        if (part := Shard(i, workers).of(60)) is not None and part.vus(vus + 1) > part.vus(vus)
    ]
    assert len(grown) == 1
    part, share = grown[0]
    assert part.vu_number(1, share) == vus + 1


@given(width=st.integers(1, 9), start=st.integers(0, 1000))
def test_iterations_are_dealt_round_robin(width: int, start: int) -> None:
    owners = [[n for n in range(start, start + 3 * width) if ScenarioShard(i, width).owns(n)] for i in range(width)]
    assert sorted(n for o in owners for n in o) == list(range(start, start + 3 * width))
    for i in range(width):
        part = ScenarioShard(i, width)
        assert part.next_owned(start) == owners[i][0]


def test_workers_share_an_arrival_schedule_at_its_exact_times() -> None:
    schedule = ArrivalSchedule(0.0, [Stage(10.0, 50.0), Stage(5.0, 5.0)])
    whole = [schedule.offset(n) or 0.0 for n in range(schedule.total())]
    parts = [ScenarioShard(i, 3) for i in range(3)]
    dealt = sorted(schedule.offset(n) or 0.0 for p in parts for n in range(schedule.total()) if p.owns(n))
    assert dealt == whole


def test_workers_follow_the_cores_and_never_outnumber_the_vus() -> None:
    assert choose_workers(4, 100) == 4
    assert choose_workers(8, 3) == 3
    assert choose_workers(None, 1) == 1
    assert 1 <= choose_workers(None, 10_000) <= 10_000
    assert choose_workers(0, 10_000) == choose_workers(None, 10_000)


def test_a_scenario_smaller_than_the_fleet_runs_on_the_first_workers_only() -> None:
    assert Shard(0, 4).of(2) == ScenarioShard(0, 2)
    assert Shard(1, 4).of(2) == ScenarioShard(1, 2)
    assert Shard(2, 4).of(2) is None
    with pytest.raises(ValueError, match="worker index"):
        ScenarioShard(3, 2).vus(10)
