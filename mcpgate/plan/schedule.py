"""Schedule math for the executors: pure functions of elapsed time, no clock, no I/O.

The semantics follow grafana/k6 (``lib/executor/ramping_vus.go``
``getRawExecutionSteps``, ``ramping_arrival_rate.go`` ``cal``,
``constant_arrival_rate.go`` ``Run``), so a profile copied from a k6 script
starts and stops VUs and iterations at the same moments.

Ramping VUs: the target is a straight line between stage ends. A VU starts
when the line *reaches* the next whole number going up and stops when the line
reaches the next whole number going down, so during a ramp-up the active count
is floor(line) and during a ramp-down ceil(line)::

    VUs ^                              the line: 0 -> 3 over 3 s, then 3 -> 0 over 3 s
      3 |                 +-----+
      2 |           +-----+     +-----+
      1 |     +-----+                 +-----+
      0 +-----+-----------------------------+-----> t (s)
        0     1     2     3     4     5     6

VU 3 starts at 3 s, when the line reaches 3, and stops at 4 s, when the line is
back down at 2 (not at 3 s + a hair, as soon as it dips below 3).

Arrival rate: the rate r(t) is piecewise linear, and the area under it up to t,
A(t), is the number of iterations owed by t. Iteration n starts at the first t
where A(t) reaches n + 1 (k6's ``cal`` counts from 1); constant-arrival-rate is
the exception, iteration n at n / rate, the first at t = 0 (k6 ticks from 0)::

    rate ^
         |            ,-'|     a ramp from 0 owes A(t) = a t^2 / 2, so
         |        ,-' |  |     iteration n starts at sqrt(2 (n + 1) / a):
         |    ,-'  |  |  |     closer together as the rate rises ...
         |,-'   |  |  |  |     ... and within any stage, A = r0 x + a x^2 / 2
         +------+--+--+--+--> t     is solved for x in a form that loses no
                0  1  2  end        precision as a -> 0 or r0 -> 0

Every start time comes straight from that formula for its own n, never by
adding intervals, so nothing drifts over millions of iterations. An iteration
whose start falls at or after the end never starts (k6 races its timer against
the end of the scenario there; we decide it the same way every time).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "ArrivalSchedule",
    "Stage",
    "max_vus",
    "ramping_vus_steps",
    "shard_of",
    "split_vus",
    "total_duration",
    "vus_at",
]


@dataclass(frozen=True, slots=True)
class Stage:
    """One leg of a profile: move linearly to ``target`` over ``duration`` seconds (0 = jump)."""

    duration: float  # seconds, >= 0
    target: float  # VUs for ramping-vus; iterations per second for ramping-arrival-rate

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration) and self.duration >= 0):
            raise ValueError(f"a stage duration must be a finite number of seconds >= 0, got {self.duration!r}")
        if not (math.isfinite(self.target) and self.target >= 0):
            raise ValueError(f"a stage target must be a finite number >= 0, got {self.target!r}")


def _stage_ends(stages: Sequence[Stage]) -> list[float]:
    """Offsets where each stage ends, summed exactly so every caller agrees on the same floats."""
    ends: list[float] = []
    exact = Fraction(0)
    for stage in stages:
        exact += Fraction(stage.duration)
        ends.append(float(exact))
    return ends


def total_duration(stages: Sequence[Stage]) -> float:
    """Seconds from the scenario start to the end of its last stage."""
    ends = _stage_ends(stages)
    return ends[-1] if ends else 0.0


def vus_at(start_vus: int, stages: Sequence[Stage], t: float) -> float:
    """Linearly interpolated VU target at offset t (seconds from scenario start); after the last stage, the last target.

    Right-continuous: at the instant of a zero-duration stage the value is already the jump's target.
    """
    value = float(start_vus)
    if t < 0:
        return value
    start = 0.0
    for stage, end in zip(stages, _stage_ends(stages), strict=True):
        if t < end:
            return value + (stage.target - value) * (t - start) / stage.duration
        value, start = stage.target, end
    return value


def _check_vus(start_vus: int, stages: Sequence[Stage]) -> None:
    if start_vus < 0:
        raise ValueError(f"start VUs can't be negative, got {start_vus}")
    for number, stage in enumerate(stages, 1):
        if not float(stage.target).is_integer():
            raise ValueError(f"stage {number}: a VU target must be a whole number, got {stage.target!r}")


def _push_step(steps: list[tuple[float, int]], offset: float, vus: int) -> None:
    """Append a change; changes at the same instant collapse so the last count wins."""
    last_offset, last_vus = steps[-1]
    if offset > last_offset:
        if vus != last_vus:
            steps.append((offset, vus))
        return
    steps.pop()
    if not steps or steps[-1][1] != vus:
        steps.append((last_offset, vus))


def ramping_vus_steps(start_vus: int, stages: Sequence[Stage]) -> list[tuple[float, int]]:
    """Every change in the number of active VUs as (offset seconds, active VUs), k6's semantics.

    As k6's getRawExecutionSteps: starts with (0.0, start_vus); a zero-duration stage jumps; one entry
    per integer step so a runner can sleep until the next change. Offsets strictly increase: where k6
    lists two changes at one instant (a jump right after a ramp, or at t=0) only the later count is
    kept, so the first entry is (0.0, start_vus) unless stages of zero duration jump at t=0.
    """
    _check_vus(start_vus, stages)
    steps: list[tuple[float, int]] = [(0.0, start_vus)]
    current = start_vus
    for stage, end in zip(stages, _stage_ends(stages), strict=True):
        target = int(stage.target)
        if target == current:
            continue
        if stage.duration == 0:
            _push_step(steps, end, target)
            current = target
            continue
        # The i-th whole number the line crosses is reached (span - i) / span of the stage before
        # its end; counting back from the end makes the last change land exactly on it.
        span = abs(target - current)
        direction = 1 if target > current else -1
        for i in range(1, span + 1):
            _push_step(steps, end - stage.duration * (span - i) / span, current + direction * i)
        current = target
    return steps


def max_vus(start_vus: int, stages: Sequence[Stage]) -> int:
    """The most VUs the profile ever runs at once (k6's getStagesUnscaledMaxTarget)."""
    _check_vus(start_vus, stages)
    return max([start_vus, *(int(stage.target) for stage in stages)])


@dataclass(frozen=True, slots=True)
class _Ramp:
    """A stage of positive duration, with the areas (iterations owed) at its two ends."""

    start: float
    end: float
    duration: float
    rate0: float
    rate1: float
    slope: float
    area0: float
    area1: float
    area1_exact: Fraction


class ArrivalSchedule:
    """When the n-th iteration of an arrival-rate executor starts (n = 0, 1, 2, ...).

    Exact: offset(n) is computed from the integral of the piecewise-linear rate, never by summing
    intervals, so no error accumulates over millions of iterations. Rates are per second here
    (the caller divides by time_unit). Built directly it is k6's ramping-arrival-rate (iteration n
    when the area reaches n + 1); ``constant()`` is k6's constant-arrival-rate (iteration n at n / rate).
    """

    __slots__ = ("_area_ends", "_duration", "_first", "_ramps", "_starts", "_total")

    def __init__(self, start_rate: float, stages: Sequence[Stage]) -> None:
        if not (math.isfinite(start_rate) and start_rate >= 0):
            raise ValueError(f"the start rate must be a finite number >= 0, got {start_rate!r}")
        self._ramps: list[_Ramp] = []
        rate = float(start_rate)
        start_exact = Fraction(0)
        area_exact = Fraction(0)
        for stage in stages:
            if stage.duration > 0:
                end_exact = start_exact + Fraction(stage.duration)
                area1_exact = area_exact + Fraction(stage.duration) * (Fraction(rate) + Fraction(stage.target)) / 2
                self._ramps.append(
                    _Ramp(
                        start=float(start_exact),
                        end=float(end_exact),
                        duration=stage.duration,
                        rate0=rate,
                        rate1=stage.target,
                        slope=(stage.target - rate) / stage.duration,
                        area0=float(area_exact),
                        area1=float(area1_exact),
                        area1_exact=area1_exact,
                    )
                )
                start_exact, area_exact = end_exact, area1_exact
            rate = stage.target  # a zero-duration stage only changes the rate
        self._duration = float(start_exact)
        self._starts = [ramp.start for ramp in self._ramps]
        self._area_ends = [ramp.area1 for ramp in self._ramps]
        self._first = 1  # the area at which iteration 0 starts
        self._total = self._count_total()

    @classmethod
    def constant(cls, rate: float, duration: float) -> ArrivalSchedule:
        """k6's constant-arrival-rate: iteration n at n / rate, the first at t = 0."""
        schedule = cls(rate, [Stage(duration, rate)])
        schedule._first = 0
        schedule._total = schedule._count_total()
        return schedule

    @property
    def peak_rate(self) -> float:
        """The highest rate anywhere in the schedule, in iterations per second."""
        return max((max(r.rate0, r.rate1) for r in self._ramps), default=0.0)

    @property
    def duration(self) -> float:
        """Seconds from the start to the end, when no new iteration may start."""
        return self._duration

    def _count_total(self) -> int:
        """Iterations whose start is before the end, decided in exact arithmetic."""
        if not self._ramps:
            return 0
        last = self._ramps[-1]
        area = last.area1_exact
        if area == 0 or area < self._first:
            return 0
        count = math.floor(area) - self._first + 1
        # A whole total area is reached at the end of the last stage with a positive rate: the end
        # itself (so that iteration never starts) unless a zero-rate stage comes after it.
        if area.denominator == 1 and last.rate0 + last.rate1 > 0:
            count -= 1
        return count

    def _time_of(self, k: int) -> float:
        """The first offset where the area reaches the whole number k (0 <= k <= the total area)."""
        ends = self._area_ends
        j = bisect_left(ends, k)
        # A float end equal to k may be an exact area just below k, rounded up: then k is further on.
        while j < len(ends) and ends[j] == k and self._ramps[j].area1_exact < k:
            j += 1
        ramp = self._ramps[min(j, len(self._ramps) - 1)]
        if ramp.slope >= 0:
            # Forward from the stage start: r0 x + a x^2/2 = m, i.e. x = 2m / (r0 + sqrt(r0^2 + 2am)),
            # the root written so that a -> 0 and r0 -> 0 lose no precision.
            m = k - ramp.area0
            root = ramp.rate0 + math.sqrt(max(0.0, ramp.rate0 * ramp.rate0 + 2 * ramp.slope * m))
            x = 2 * m / root if m > 0 and root > 0 else 0.0
        else:
            # Ramping down: measure back from the stage end, where the rate is lowest, for the same reason.
            m = ramp.area1 - k
            slope = -ramp.slope
            root = ramp.rate1 + math.sqrt(max(0.0, ramp.rate1 * ramp.rate1 + 2 * slope * m))
            x = ramp.duration - (2 * m / root if m > 0 and root > 0 else 0.0)
        return min(ramp.start + min(max(x, 0.0), ramp.duration), ramp.end)

    def offset(self, n: int) -> float | None:
        """Seconds from the start when iteration n starts; None when it would start at or after the end."""
        if n < 0:
            raise ValueError(f"an iteration number can't be negative, got {n}")
        if n >= self._total:
            return None
        return self._start(n)

    def _start(self, n: int) -> float:
        """offset(n) for 0 <= n < total: kept below the end even where the true start rounds onto it."""
        t = self._time_of(n + self._first)
        return t if t < self._duration else math.nextafter(self._duration, -math.inf)

    def count_until(self, t: float) -> int:
        """How many iterations have start offsets <= t (clamped to the end): the inverse of offset().

        O(log stages): an estimate from the area at t, then corrected against offset() itself so
        offset(count_until(t) - 1) <= t < offset(count_until(t)) holds to the last bit.
        """
        if math.isnan(t):
            raise ValueError("count_until needs a time, got NaN")
        if t >= self._duration:
            return self._total
        if t < 0 or not self._ramps:
            return 0
        ramp = self._ramps[bisect_right(self._starts, t) - 1]
        x = min(t - ramp.start, ramp.duration)
        rate = ramp.rate0 + (ramp.rate1 - ramp.rate0) * (x / ramp.duration)
        area = ramp.area0 + x * (ramp.rate0 + rate) / 2  # the trapezoid up to t; finite for any stage
        count = min(max(math.floor(area) - self._first + 1, 0), self._total)
        while count < self._total and self._start(count) <= t:
            count += 1
        while count > 0 and self._start(count - 1) > t:
            count -= 1
        return count

    def total(self) -> int:
        """Iterations in the whole schedule."""
        return self._total


def shard_of(n: int, workers: int) -> int:
    """Which worker runs iteration n: round-robin, so each worker's share follows the same curve."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if n < 0:
        raise ValueError(f"an iteration number can't be negative, got {n}")
    return n % workers


def split_vus(vus: int, workers: int, index: int) -> int:
    """How many of ``vus`` VUs worker ``index`` runs: as even as possible, lower indices get the remainder.

    A worker's share only grows as ``vus`` grows, so per-worker ramps stay monotone with the global one.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not 0 <= index < workers:
        raise ValueError(f"worker index must be in [0, {workers}), got {index}")
    if vus < 0:
        raise ValueError(f"VUs can't be negative, got {vus}")
    base, extra = divmod(vus, workers)
    return base + (1 if index < extra else 0)
