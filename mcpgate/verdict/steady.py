"""The steady load: the longest stretch of a run in which no scenario's load changes.

Drift is measured inside it (verdict/drift.py), because a latency that rises
with the load is not drift. A ``constant-vus`` or ``constant-arrival-rate``
scenario is steady from start to end; a ramping one in its flat stages (the
soak profile's 10 VUs, the load profile's 5 minutes at 20 VUs); side by side
with any other scenario that is flat or idle at the time. It is found from the
plan's scenarios when a run starts, and from a saved run's scenario list when
an older results file has no drift section.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from mcpgate.config.models import ConstantArrivalRate, ConstantVus, RampingArrivalRate, RampingVus, Scenario
from mcpgate.results.schema import Results, ScenarioInfo, SteadyLoad


@dataclass(frozen=True, slots=True)
class _Load:
    """One scenario's load over the run: flat pieces (start, end, level) inside its busy span."""

    name: str
    start: float
    busy_end: float  # its end plus the graceful stop: iterations in flight still run
    pieces: tuple[tuple[float, float, float], ...]
    unit: str  # "VUs" or "iterations/s"; "" when only the scenario's description is known
    label: str = ""

    def level_at(self, t: float) -> float | None:
        """The level at ``t``; 0 outside its span; None where its load is changing."""
        if t < self.start or t > self.busy_end:
            return 0.0
        for start, end, level in self.pieces:
            if start <= t <= end:
                return level
        return None

    def describe(self, level: float) -> str:
        if not self.unit:
            return f"{self.name} ({self.label})" if self.label else self.name
        return f"{self.name} at {level:g} {self.unit}"


def _flat_stages(
    start: float, first: float, stages: Iterable[tuple[float, float]]
) -> tuple[float, tuple[tuple[float, float, float], ...]]:
    """The flat stretches of a piecewise-linear profile (stages of (duration, target)), and its end."""
    pieces: list[tuple[float, float, float]] = []
    t, level = start, first
    for duration, target in stages:
        if duration > 0 and target == level:
            if pieces and pieces[-1][1] == t and pieces[-1][2] == level:
                pieces[-1] = (pieces[-1][0], t + duration, level)  # a jump to the same level changes nothing
            else:
                pieces.append((t, t + duration, level))
        t += duration
        level = target
    return t, tuple(pieces)


def _load(name: str, s: Scenario) -> _Load:
    if isinstance(s, ConstantVus):
        end = s.start_time + s.duration
        return _Load(name, s.start_time, end + s.graceful_stop, ((s.start_time, end, float(s.vus)),), "VUs")
    if isinstance(s, ConstantArrivalRate):
        end = s.start_time + s.duration
        rate = s.rate / s.time_unit
        return _Load(name, s.start_time, end + s.graceful_stop, ((s.start_time, end, rate),), "iterations/s")
    if isinstance(s, RampingVus):
        end, pieces = _flat_stages(s.start_time, float(s.start_vus), ((st.duration, st.target) for st in s.stages))
        return _Load(name, s.start_time, end + s.graceful_stop, pieces, "VUs")
    assert isinstance(s, RampingArrivalRate)
    unit = s.time_unit
    end, pieces = _flat_stages(s.start_time, s.start_rate / unit, ((st.duration, st.target / unit) for st in s.stages))
    return _Load(name, s.start_time, end + s.graceful_stop, pieces, "iterations/s")


def _load_from_info(info: ScenarioInfo) -> _Load:
    """What a saved run's scenario list tells: a constant executor is flat from start to end."""
    end = info.start_time + info.duration
    pieces = ((info.start_time, end, 1.0),) if info.executor in ("constant-vus", "constant-arrival-rate") else ()
    return _Load(info.name, info.start_time, end, pieces, "", info.description)


def _steady(loads: Sequence[_Load]) -> SteadyLoad | None:
    """The longest stretch where no scenario's load changes and at least one runs."""
    cuts = {0.0}
    for load in loads:
        cuts.update((load.start, load.busy_end))
        for start, end, _ in load.pieces:
            cuts.update((start, end))
    edges = sorted(cuts)
    best: tuple[float, float, tuple[float, ...]] | None = None
    current: tuple[float, float, tuple[float, ...]] | None = None
    for a, b in pairwise(edges):
        levels = [load.level_at((a + b) / 2) for load in loads]
        if any(level is None for level in levels) or not any(levels):
            current = None
            continue
        signature = tuple(level or 0.0 for level in levels)
        if current is not None and current[1] == a and current[2] == signature:
            current = (current[0], b, signature)
        else:
            current = (a, b, signature)
        if best is None or current[1] - current[0] > best[1] - best[0]:
            best = current
    if best is None:
        return None
    start, end, signature = best
    running = ", ".join(load.describe(level) for load, level in zip(loads, signature, strict=True) if level)
    return SteadyLoad(start=start, end=end, load=running)


def steady_load(scenarios: Mapping[str, Scenario]) -> SteadyLoad | None:
    """Where the plan's load is constant (None when every scenario ramps all the time)."""
    return _steady([_load(name, s) for name, s in scenarios.items()])


def steady_of(results: Results) -> SteadyLoad | None:
    """The steady load a saved run recorded, or what its scenario list says (files without a drift section)."""
    if results.drift is not None:
        return results.drift.steady
    return _steady([_load_from_info(info) for info in results.scenarios])
