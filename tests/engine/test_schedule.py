"""The schedule math against closed forms and grafana/k6's own expectations, without a clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpgate.plan.schedule import (
    ArrivalSchedule,
    Stage,
    max_vus,
    ramping_vus_steps,
    shard_of,
    split_vus,
    total_duration,
    vus_at,
)

# The seed guide's profiles (k6 `stages`), startVUs 0.
LOAD = [Stage(120, 20), Stage(300, 20), Stage(120, 50), Stage(180, 50), Stage(120, 0)]
SPIKE = [Stage(30, 5), Stage(10, 100), Stage(180, 100), Stage(10, 5), Stage(120, 5), Stage(10, 0)]


def _ramp(start: float, duration: float, vus_from: int, vus_to: int) -> list[tuple[float, int]]:
    """Closed form: the i-th whole number on the line is reached at start + duration * i / span."""
    span = abs(vus_to - vus_from)
    sign = 1 if vus_to > vus_from else -1
    return [(start + duration * i / span, vus_from + sign * i) for i in range(1, span + 1)]


def _assert_steps(actual: list[tuple[float, int]], expected: list[tuple[float, int]]) -> None:
    assert [vus for _, vus in actual] == [vus for _, vus in expected]
    assert [offset for offset, _ in actual] == pytest.approx([offset for offset, _ in expected], abs=1e-9)


# --- ramping-vus ---------------------------------------------------------------------------------


def test_stage_rejects_negative_or_non_finite() -> None:
    with pytest.raises(ValueError, match="duration"):
        Stage(-1, 5)
    with pytest.raises(ValueError, match="target"):
        Stage(1, -5)
    with pytest.raises(ValueError, match="duration"):
        Stage(math.inf, 5)


def test_load_profile_steps() -> None:
    steps = ramping_vus_steps(0, LOAD)
    expected = [(0.0, 0), *_ramp(0, 120, 0, 20), *_ramp(420, 120, 20, 50), *_ramp(720, 120, 50, 0)]
    _assert_steps(steps, expected)
    assert steps[1] == (6.0, 1)
    assert steps[20] == (120.0, 20)  # reaches the target exactly at the stage end
    assert total_duration(LOAD) == 840.0
    assert max_vus(0, LOAD) == 50


def test_load_profile_ramp_down_removes_a_vu_when_the_line_reaches_the_lower_number() -> None:
    down = [step for step in ramping_vus_steps(0, LOAD) if step[0] > 720]
    # 50 -> 0 over 120 s: one VU every 2.4 s; 50 VUs are still running at 721 s (target 49.58).
    assert down[0] == pytest.approx((722.4, 49))
    assert down[1] == pytest.approx((724.8, 48))
    assert down[-1] == (840.0, 0)
    assert len(down) == 50


def test_spike_profile_steps() -> None:
    steps = ramping_vus_steps(0, SPIKE)
    expected = [
        (0.0, 0),
        *_ramp(0, 30, 0, 5),
        *_ramp(30, 10, 5, 100),
        *_ramp(220, 10, 100, 5),
        *_ramp(350, 10, 5, 0),
    ]
    _assert_steps(steps, expected)
    assert steps[5] == (30.0, 5)
    assert steps[100] == (40.0, 100)
    assert steps[-1] == (360.0, 0)
    assert max_vus(0, SPIKE) == 100
    assert total_duration(SPIKE) == 360.0


def test_zero_duration_stages_jump() -> None:
    # k6 lists (0, 5) then (0, 10): one instant, so only the later count is kept.
    assert ramping_vus_steps(5, [Stage(0, 10), Stage(10, 10), Stage(0, 2)]) == [(0.0, 10), (10.0, 2)]
    # A jump at the end of a ramp replaces the ramp's last change ...
    assert ramping_vus_steps(0, [Stage(3, 3), Stage(0, 7)]) == [(0.0, 0), (1.0, 1), (2.0, 2), (3.0, 7)]
    # ... and a jump back to the previous count leaves no change at all.
    assert ramping_vus_steps(0, [Stage(3, 3), Stage(0, 2)]) == [(0.0, 0), (1.0, 1), (2.0, 2)]
    assert vus_at(0, [Stage(3, 3), Stage(0, 7), Stage(2, 7)], 3.0) == 7.0  # right-continuous


def test_constant_stage_and_no_stages() -> None:
    assert ramping_vus_steps(4, []) == [(0.0, 4)]
    assert ramping_vus_steps(4, [Stage(30, 4)]) == [(0.0, 4)]
    assert max_vus(4, []) == 4
    assert total_duration([]) == 0.0


def test_vus_at_interpolates() -> None:
    assert vus_at(0, LOAD, -1) == 0
    assert vus_at(0, LOAD, 60) == 10
    assert vus_at(0, LOAD, 300) == 20
    assert vus_at(0, LOAD, 480) == 35
    assert vus_at(0, LOAD, 780) == 25
    assert vus_at(0, LOAD, 840) == 0
    assert vus_at(0, LOAD, 10_000) == 0
    assert vus_at(3, [], 5) == 3


def test_vu_targets_must_be_whole() -> None:
    with pytest.raises(ValueError, match="whole"):
        ramping_vus_steps(0, [Stage(10, 2.5)])
    with pytest.raises(ValueError, match="negative"):
        max_vus(-1, [])


_durations = st.one_of(st.sampled_from([0.0, 0.1, 1 / 3, 0.5, 1.0, 2.5, 7.0]), st.floats(0, 10))


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 15),
    stages=st.lists(st.builds(Stage, _durations, st.integers(0, 15).map(float)), max_size=5),
)
def test_vu_steps_follow_the_line(start: int, stages: list[Stage]) -> None:
    steps = ramping_vus_steps(start, stages)
    offsets = [offset for offset, _ in steps]
    counts = [vus for _, vus in steps]
    assert offsets[0] == 0.0
    assert all(a < b for a, b in pairwise(offsets))
    assert all(a != b for a, b in pairwise(counts))
    assert counts[-1] == (int(stages[-1].target) if stages else start)
    assert max(counts) <= max_vus(start, stages)
    assert offsets[-1] <= total_duration(stages)
    # Between two changes the count is floor(line) going up, ceil(line) going down: never further off.
    ends = [*offsets[1:], total_duration(stages) + 1]
    for (offset, count), end in zip(steps, ends, strict=True):
        if end - offset > 1e-6:
            line = vus_at(start, stages, (offset + end) / 2)
            assert math.floor(line - 1e-6) <= count <= math.ceil(line + 1e-6)


# --- arrival rate --------------------------------------------------------------------------------


def test_constant_arrival_rate_starts_at_zero() -> None:
    # k6 constant-arrival-rate: iteration n at n * (timeUnit / rate), the first one at t = 0.
    schedule = ArrivalSchedule.constant(10, 60)
    assert schedule.total() == 600
    assert schedule.duration == 60.0
    assert [schedule.offset(n) for n in range(600)] == [n / 10 for n in range(600)]
    assert schedule.offset(600) is None
    assert schedule.count_until(-0.5) == 0
    assert schedule.count_until(0.0) == 1
    assert schedule.count_until(0.1) == 2
    assert schedule.count_until(59.95) == 600
    assert schedule.count_until(1e9) == 600


def test_constant_arrival_rate_edge_cases() -> None:
    assert ArrivalSchedule.constant(0, 60).total() == 0
    assert ArrivalSchedule.constant(10, 0).total() == 0
    uneven = ArrivalSchedule.constant(3, 1.5)  # 4.5 owed: starts at 0, 1/3, 2/3, 1, 4/3
    assert uneven.total() == 5
    assert uneven.offset(4) == pytest.approx(4 / 3)


def test_ramping_arrival_rate_matches_k6_cal() -> None:
    # The expectations of k6's TestRampingArrivalRateCal (lib/executor/ramping_arrival_rate_test.go):
    # 0 -> 1/s over 5 s, 1 s at 1/s, 1 -> 0 over 5 s. k6 also emits a sixth at exactly 11 s, the
    # end, which its runner races against the end of the scenario; here it never starts.
    schedule = ArrivalSchedule(0, [Stage(5, 1), Stage(1, 1), Stage(5, 0)])
    k6_ms = [3162, 4472, 5500, 6527, 7837]
    assert schedule.total() == 5
    for n, ms in enumerate(k6_ms):
        assert schedule.offset(n) == pytest.approx(ms / 1000, rel=1e-3)
    assert schedule.offset(5) is None
    # The same with timeUnit 1/3 s (three times the rate).
    fast = ArrivalSchedule(0, [Stage(5, 3), Stage(1, 3), Stage(5, 0)])
    k6_fast_ms = [1825, 2581, 3162, 3651, 4082, 4472, 4830, 5166, 5499, 5833, 6169, 6527, 6917, 7348, 7837]
    k6_fast_ms += [8418, 9174]
    assert fast.total() == 17
    assert [fast.offset(n) for n in range(17)] == pytest.approx([ms / 1000 for ms in k6_fast_ms], rel=1e-3)


def test_ramp_from_zero_is_sqrt_shaped() -> None:
    # 0 -> 100/s over 10 s: slope 10/s^2, area(t) = 5 t^2 = 500 iterations owed. k6's cal starts
    # iteration n when the area reaches n + 1: offset(n) = sqrt(2 (n + 1) / slope). The 500th
    # falls exactly on the end (t = 10 s), so 499 start.
    schedule = ArrivalSchedule(0, [Stage(10, 100)])
    slope = 10.0
    assert schedule.total() == 499
    for n in range(499):
        assert schedule.offset(n) == pytest.approx(math.sqrt(2 * (n + 1) / slope), rel=1e-12)
    assert schedule.offset(0) == pytest.approx(math.sqrt(0.2))
    assert schedule.offset(499) is None
    assert schedule.count_until(9.999999) == 499


def test_ramping_at_a_constant_rate_is_k6s_ramping_not_constant() -> None:
    # The two k6 executors differ by one place: ramping starts at 1/rate, constant at 0.
    ramping = ArrivalSchedule(10, [Stage(60, 10)])
    assert ramping.offset(0) == pytest.approx(0.1)
    assert ramping.total() == 599  # the 600th would start exactly at 60 s
    assert ArrivalSchedule.constant(10, 60).total() == 600


def test_stage_boundary_continues_without_gap() -> None:
    schedule = ArrivalSchedule(0, [Stage(10, 100), Stage(10, 100)])
    assert schedule.offset(499) == 10.0  # the 500th is owed exactly at the boundary; more follows
    assert schedule.offset(500) == pytest.approx(10.01)
    assert schedule.total() == 1499


def test_zero_rate_stages_start_nothing() -> None:
    # 10/s for 5 s, jump to 0, idle 5 s, jump back to 10/s for 5 s.
    schedule = ArrivalSchedule(10, [Stage(5, 10), Stage(0, 0), Stage(5, 0), Stage(0, 10), Stage(5, 10)])
    assert schedule.duration == 15.0
    assert schedule.offset(49) == 5.0  # owed at the end of the busy stage, before the idle one
    assert schedule.offset(50) == pytest.approx(10.1)
    assert schedule.total() == 99
    assert schedule.count_until(5.0) == 50
    assert schedule.count_until(7.5) == 50
    assert schedule.count_until(10.05) == 50
    offsets = [schedule.offset(n) for n in range(schedule.total())]
    assert not [t for t in offsets if t is not None and 5.0 < t < 10.0]
    # An all-zero schedule starts nothing.
    assert ArrivalSchedule(0, [Stage(10, 0)]).total() == 0
    assert ArrivalSchedule(0, []).total() == 0


def test_ramp_down_to_zero_then_idle() -> None:
    # 10 -> 0 over 2 s owes 10 exactly at 2 s; an idle stage after it lets that one start.
    schedule = ArrivalSchedule(10, [Stage(2, 0), Stage(3, 0)])
    assert schedule.total() == 10
    assert schedule.offset(9) == 2.0
    # offset(n): 10 t - 2.5 t^2 = n + 1  ->  t = 2 - sqrt(4 - 0.4 (n + 1))
    for n in range(10):
        assert schedule.offset(n) == pytest.approx(2 - math.sqrt(4 - 0.4 * (n + 1)), abs=1e-12)


def test_long_high_rate_schedule_has_no_drift() -> None:
    # 100 000/s for an hour: 360 000 000 iterations owed, the last exactly at the end.
    flat = ArrivalSchedule(1e5, [Stage(3600, 1e5)])
    assert flat.total() == 359_999_999
    for n in (0, 1, 12_345_678, 200_000_001, 359_999_998):
        exact = Fraction(n + 1, 100_000)
        assert abs(Fraction(flat.offset(n) or 0.0) - exact) <= exact * Fraction(1, 10**12)
    assert flat.offset(359_999_999) is None
    # count_until is the closed form floor(rate * t) away from the grid points.
    for t in (0.000015, 1234.567895, 3599.999995):
        assert flat.count_until(t) == math.floor(Fraction(t) * 100_000)
    # Ramping 0 -> 100 000/s over the hour: offset(n) = sqrt(2 (n + 1) / slope).
    ramp = ArrivalSchedule(0, [Stage(3600, 1e5)])
    slope = 1e5 / 3600
    assert ramp.total() == 179_999_999
    for n in (0, 999, 98_765_432, 179_999_998):
        assert ramp.offset(n) == pytest.approx(math.sqrt(2 * (n + 1) / slope), rel=1e-12)
    # Half-way the area is 45 000 000 (the rate is 50 000/s there, so 1 us is 0.05 iterations).
    assert ramp.count_until(1800.0 - 1e-6) == 44_999_999
    assert ramp.count_until(1800.0 + 1e-6) == 45_000_000


def test_constant_schedule_is_exact_far_out() -> None:
    schedule = ArrivalSchedule.constant(1e5, 3600)
    assert schedule.total() == 360_000_000
    assert schedule.offset(359_999_999) == 359_999_999 / 1e5
    assert schedule.count_until(3599.99999) == 360_000_000


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="start rate"):
        ArrivalSchedule(-1, [])
    with pytest.raises(ValueError, match="negative"):
        ArrivalSchedule.constant(1, 1).offset(-1)


def _exact_area(start_rate: float, stages: Sequence[Stage]) -> Fraction:
    area, rate = Fraction(0), Fraction(start_rate)
    for stage in stages:
        area += Fraction(stage.duration) * (rate + Fraction(stage.target)) / 2
        rate = Fraction(stage.target)
    return area


_rates = st.one_of(st.sampled_from([0.0, 0.5, 1 / 3, 1.0, 3.0, 7.3, 10.0]), st.floats(0, 20))


@settings(max_examples=150, deadline=None)
@given(
    start_rate=_rates,
    stages=st.lists(st.builds(Stage, _durations, _rates), max_size=5),
    constant=st.booleans(),
    probes=st.lists(st.floats(-1, 60), max_size=8),
    picks=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_count_until_inverts_offset(
    start_rate: float, stages: list[Stage], constant: bool, probes: list[float], picks: list[int]
) -> None:
    if constant:
        duration = stages[0].duration if stages else 1.0
        schedule = ArrivalSchedule.constant(start_rate, duration)
        area, first = Fraction(duration) * Fraction(start_rate), 0
    else:
        schedule = ArrivalSchedule(start_rate, stages)
        area, first = _exact_area(start_rate, stages), 1
    total = schedule.total()
    owed = math.floor(area) - first + 1 if area > 0 else 0
    assert owed - 1 <= total <= max(owed, 0)
    offsets = [schedule.offset(n) for n in range(total)]
    times = [t for t in offsets if t is not None]
    assert len(times) == total
    assert schedule.offset(total) is None
    assert all(0 <= t < schedule.duration for t in times)
    assert all(a < b for a, b in pairwise(times))
    near = [times[p % total] for p in picks] if total else []
    for t in [*probes, *near, *(math.nextafter(t, -math.inf) for t in near), schedule.duration]:
        count = schedule.count_until(t)
        assert 0 <= count <= total
        if count > 0:
            assert times[count - 1] <= t
        if count < total:
            assert times[count] > t


# --- sharing across workers ----------------------------------------------------------------------


def test_shard_of_is_round_robin() -> None:
    assert [shard_of(n, 3) for n in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="workers"):
        shard_of(1, 0)


def test_split_vus_examples() -> None:
    assert [split_vus(10, 4, i) for i in range(4)] == [3, 3, 2, 2]
    assert [split_vus(2, 4, i) for i in range(4)] == [1, 1, 0, 0]
    with pytest.raises(ValueError, match="index"):
        split_vus(10, 4, 4)


@settings(max_examples=200, deadline=None)
@given(vus=st.integers(0, 10_000), workers=st.integers(1, 64))
def test_split_vus_sums_to_vus(vus: int, workers: int) -> None:
    shares = [split_vus(vus, workers, i) for i in range(workers)]
    assert sum(shares) == vus
    assert max(shares) - min(shares) <= 1
    assert shares == sorted(shares, reverse=True)
    assert all(split_vus(vus + 1, workers, i) >= share for i, share in enumerate(shares))
