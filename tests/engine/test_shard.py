"""Shards: N workers together run exactly the plan one process would run."""

from __future__ import annotations

import bisect
import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpgate.engine.shard import ScenarioShard, Shard, choose_workers, parse_shard
from mcpgate.plan.schedule import ArrivalSchedule, Stage, ramping_vus_steps


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


# -- --shard I/N, with any number of workers in each shard ------------------------------------

# Each list is one sharded run: its length is the shard count, its items each shard's --workers.
fleets = st.lists(st.integers(1, 4), min_size=1, max_size=5)


def parts(max_vus: int, fleet: list[int]) -> list[ScenarioShard]:
    """Every process's part of a scenario: each shard's, split again among that shard's workers."""
    found = []
    for s, workers in enumerate(fleet):
        run = Shard(s, len(fleet))
        if run.of(max_vus) is None:
            assert s >= max_vus  # only a shard beyond the VU count sits the scenario out
            assert run.vus(max_vus) == 0
            continue
        found += [p for w in range(workers) if (p := Shard(w, workers, parent=run).of(max_vus)) is not None]
    return found


@given(start=st.integers(0, 40), plan=stages, fleet=fleets)
def test_shards_and_their_workers_add_up_to_the_plan_at_every_moment(
    start: int, plan: list[Stage], fleet: list[int]
) -> None:
    steps = tuple(ramping_vus_steps(start, plan))
    top = max(1, *(target for _, target in steps))
    mine = [part.steps(steps) for part in parts(top, fleet)]
    for offset, target in steps:
        assert sum(at(m, offset) for m in mine) == target
    for m in mine:  # each part follows the ramp in its own steps, each a change
        assert all(a[1] != b[1] for a, b in itertools.pairwise(m))


@given(max_vus=st.integers(1, 60), fleet=fleets, first=st.integers(1, 100))
def test_vu_numbers_stay_unique_run_wide_across_shards_and_workers(max_vus: int, fleet: list[int], first: int) -> None:
    numbers = [p.vu_number(first, k) for p in parts(max_vus, fleet) for k in range(1, p.vus(max_vus) + 1)]
    assert sorted(numbers) == list(range(first, first + max_vus))


@given(vus=st.integers(0, 59), fleet=fleets)
def test_a_ramp_step_starts_the_next_vu_in_exactly_one_process(vus: int, fleet: list[int]) -> None:
    grown = [(p, p.vus(vus + 1)) for p in parts(60, fleet) if p.vus(vus + 1) > p.vus(vus)]
    assert len(grown) == 1
    part, share = grown[0]
    assert part.vu_number(1, share) == vus + 1


@given(
    plan=st.lists(
        st.tuples(st.integers(1, 6), st.integers(0, 30)).map(lambda d: Stage(float(d[0]), float(d[1]))),
        min_size=1,
        max_size=4,
    ),
    start_rate=st.integers(0, 30),
    fleet=fleets,
    max_vus=st.integers(1, 40),
)
def test_every_arrival_iteration_starts_once_at_its_own_time(
    plan: list[Stage], start_rate: int, fleet: list[int], max_vus: int
) -> None:
    schedule = ArrivalSchedule(float(start_rate), plan)
    total = schedule.total()
    owners = parts(max_vus, fleet)
    for n in range(total):
        assert sum(p.owns(n) for p in owners) == 1
    # Each process walks its own iterations as arrival.py does, from next_owned in steps of its width.
    walked = sorted(n for p in owners for n in range(p.next_owned(0), total, p.width))
    assert walked == list(range(total))
    assert [schedule.offset(n) for n in walked] == [schedule.offset(n) for n in range(total)]


@given(fleet=fleets)
def test_sequential_dataset_rows_are_dealt_once(fleet: list[int]) -> None:
    dealings = [
        Shard(w, workers, parent=Shard(s, len(fleet))).rows() for s, workers in enumerate(fleet) for w in range(workers)
    ]
    for row in range(200):
        assert sum(row >= first and (row - first) % step == 0 for first, step in dealings) == 1


def test_two_shards_with_three_workers_and_one_split_seven_vus() -> None:
    """Shard 0 holds VUs 1, 3, 5, 7 and deals them to its three workers; shard 1 runs 2, 4, 6 alone."""
    shard0, shard1 = Shard(0, 2), Shard(1, 2)
    workers0 = [Shard(w, 3, parent=shard0).of(7) for w in range(3)]
    numbers = [[p.vu_number(1, k) for k in range(1, p.vus(7) + 1)] for p in workers0 if p is not None]
    assert numbers == [[1, 7], [3], [5]]
    alone = Shard(0, 1, parent=shard1).of(7)
    assert alone is not None
    assert [alone.vu_number(1, k) for k in range(1, alone.vus(7) + 1)] == [2, 4, 6]
    # The arrival-rate iterations: shard 0's workers take 0, 6, 12 ... / 2, 8 ... / 4, 10 ...; shard 1 the odd ones.
    assert [p.next_owned(0) for p in workers0 if p is not None] == [0, 2, 4]
    assert {p.width for p in workers0 if p is not None} == {6}
    assert (alone.next_owned(0), alone.width) == (1, 2)


def test_a_scenario_smaller_than_the_shards_runs_on_the_first_ones_only() -> None:
    assert Shard(2, 3).of(2) is None
    assert Shard(0, 4, parent=Shard(2, 3)).of(2) is None
    assert Shard(0, 4, parent=Shard(1, 3)).of(2) == ScenarioShard(1, 2)
    assert Shard(1, 4, parent=Shard(1, 3)).of(2) is None  # shard 1 has one VU: one worker runs it


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0/3", Shard(0, 3)), ("2/3", Shard(2, 3)), (" 1 / 4 ", Shard(1, 4)), ("0/1", Shard(0, 1))],
)
def test_shard_flag_reads_index_over_count(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/3", "I counting from 0 to N-1, e.g. 0/3 for the first of three shards (the last of 3 is 2/3), got '3/3'"),
        ("1", "expected I/N"),
        ("-1/3", "expected I/N"),
        ("a/b", "expected I/N"),
        ("0/0", "the shard count must be from 1 to 10000, got 0"),
        ("0/10001", "the shard count must be from 1 to 10000, got 10001"),
        ("١/٣", "expected I/N"),  # digits, but not ASCII ones
    ],
)
def test_a_bad_shard_is_one_line_saying_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_shard(text)
    assert "\n" not in str(caught.value)
