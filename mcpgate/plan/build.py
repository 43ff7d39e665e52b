"""Config -> Plan: everything a run needs, settled and immutable before any traffic.

Scenarios become schedules (pure math from plan/schedule.py), thresholds are
parsed, datasets loaded, the target turned into a ConnectSpec (connect.py), and every
secret registered with the redactor.
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcpgate.config.assemble import Assembled
from mcpgate.config.explain import line_of
from mcpgate.config.models import (
    Config,
    ConstantArrivalRate,
    ConstantVus,
    RampingArrivalRate,
    RampingVus,
    Scenario,
)
from mcpgate.config.profiles import BREAKPOINT
from mcpgate.config.thresholds import Threshold, thresholds_from_config
from mcpgate.plan.auth import tenants
from mcpgate.plan.breakpoint import GRACE as BREAKPOINT_GRACE
from mcpgate.plan.breakpoint import SCENARIO as BREAKPOINT_SCENARIO
from mcpgate.plan.breakpoint import BreakpointPlan, plan_breakpoint, vus_steps
from mcpgate.plan.connect import connect_spec, with_answers
from mcpgate.plan.schedule import ArrivalSchedule, Stage, max_vus, ramping_vus_steps, total_duration
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.support.durations import format_duration
from mcpgate.support.errors import UsageError, field_name
from mcpgate.support.redact import MASK, Redactor, sensitive_name
from mcpgate.workload.datasets import load_dataset
from mcpgate.workload.expect import Expect
from mcpgate.workload.program import check_program
from mcpgate.workload.templates import ArgumentTemplate


@dataclass(frozen=True, slots=True)
class ScenarioPlan:
    name: str
    executor: str
    start_time: float
    duration: float  # from its own start to its last scheduled moment
    graceful_stop: float
    max_vus: int
    steps: tuple[tuple[float, int], ...] = ()  # closed model: (offset, VUs)
    graceful_ramp_down: float = 0.0
    schedule: ArrivalSchedule | None = None  # open model
    pre_allocated: int = 0
    label: str = ""  # how to describe it, when its executor's own words would not say what it is

    @property
    def end(self) -> float:
        return self.start_time + self.duration

    def describe(self) -> str:
        if self.label:
            return self.label
        when = f", from {format_duration(self.start_time)}" if self.start_time else ""
        length = format_duration(self.duration)
        vus = f"{self.max_vus} VU" + ("" if self.max_vus == 1 else "s")
        if self.schedule is not None:
            return f"{self.executor}: {self.schedule.total()} iterations over {length}, up to {vus}{when}"
        if self.executor == "constant-vus":
            return f"{self.executor}: {vus} for {length}{when}"
        return f"{self.executor}: up to {vus} over {length}{when}"


@dataclass(frozen=True)
class Plan:
    config: Config
    connect: ConnectSpec
    redact: Redactor
    scenarios: tuple[ScenarioPlan, ...]
    thresholds: tuple[Threshold, ...]
    think: tuple[float, float]
    datasets: Mapping[str, list[dict[str, Any]]]
    source: str
    profile: str | None
    digest: str
    notes: tuple[str, ...] = field(default=())
    breakpoint: BreakpointPlan | None = None  # the breakpoint search, when that is the profile

    @property
    def duration(self) -> float:
        return max((s.end for s in self.scenarios), default=0.0)

    @property
    def max_vus(self) -> int:
        return sum(s.max_vus for s in self.scenarios)

    def first_vu(self, name: str) -> int:
        """VU numbers are global, as k6's __VU: each scenario's start after the ones before it."""
        first = 1
        for scenario in self.scenarios:
            if scenario.name == name:
                return first
            first += scenario.max_vus
        raise KeyError(name)

    def think_time(self) -> Callable[[random.Random], float]:
        low, high = self.think
        if high <= 0:
            return lambda rng: 0.0
        if low == high:
            return lambda rng: low
        return lambda rng: rng.uniform(low, high)


def build_plan(assembled: Assembled) -> Plan:
    """The plan for a validated config; every problem is a one-line ``UsageError`` naming the key,
    and, when the config came from a file, the ``FILE:LINE`` where that key is written."""
    config = assembled.config
    try:
        connect, redact = connect_spec(config.target)
        connect = with_answers(connect, config.client, config.seed)
    except UsageError as exc:
        raise _located(assembled, exc.field, exc.message) from None
    search = _search(assembled)
    scenarios = _scenarios(assembled, search)
    thresholds = _thresholds(assembled, {s.name for s in scenarios})
    datasets = _datasets(assembled)
    if connect.auth is not None and config.target.auth is not None:
        try:
            tenants(connect.auth, config.target.auth, datasets, redact)
        except UsageError as exc:
            raise _located(assembled, exc.field, exc.message) from None
    _check_tools(assembled, datasets)
    think = config.flow.think_time
    return Plan(
        config=config,
        connect=connect,
        redact=redact,
        scenarios=scenarios,
        thresholds=thresholds,
        think=(think.min, think.max) if think is not None else (0.0, 0.0),
        datasets=datasets,
        source=assembled.source,
        profile=assembled.profile,
        digest=digest(config),
        notes=assembled.notes,
        breakpoint=search,
    )


def _search(assembled: Assembled) -> BreakpointPlan | None:
    """The breakpoint search, when that is the profile."""
    if assembled.profile != BREAKPOINT:
        return None
    try:
        return plan_breakpoint(assembled.config.breakpoint)
    except ArithmeticError:  # rates and step durations each finite, yet too many iterations for a float
        raise _located(assembled, "breakpoint", "too many iterations to schedule", ("breakpoint",)) from None


def _scenarios(assembled: Assembled, search: BreakpointPlan | None) -> tuple[ScenarioPlan, ...]:
    """The search's own scenario first, when there is one, then the config's in order."""
    scenarios = [] if search is None else [breakpoint_scenario(search)]
    for name, s in assembled.config.scenarios.items():
        try:
            scenarios.append(scenario_plan(name, s))
        except ValueError as exc:
            raise _located(assembled, f"scenarios.{field_name(name)}", str(exc), ("scenarios", name)) from None
        except ArithmeticError:  # rates and durations each finite, yet too many iterations for a float
            where = f"scenarios.{field_name(name)}"
            raise _located(assembled, where, "too many iterations to schedule", ("scenarios", name)) from None
    return tuple(scenarios)


def _thresholds(assembled: Assembled, names: set[str]) -> tuple[Threshold, ...]:
    """Every threshold parsed; one tagged with a scenario must name one the plan runs."""
    thresholds: list[Threshold] = []
    for metric, items in assembled.config.thresholds.items():
        try:
            parsed = thresholds_from_config({metric: items})
        except ValueError as exc:  # its message starts "thresholds.<metric>:"
            raise _located(assembled, "", str(exc), ("thresholds", metric)) from None
        for threshold in parsed:
            scenario = dict(threshold.key.tags).get("scenario")
            if scenario is not None and scenario not in names:
                where = f"thresholds.{field_name(metric)}"
                raise _located(assembled, where, f"no scenario {scenario!r}", ("thresholds", metric))
        thresholds.extend(parsed)
    return tuple(thresholds)


def _datasets(assembled: Assembled) -> dict[str, list[dict[str, Any]]]:
    """Every dataset's rows, read now so that a bad file fails before any traffic."""
    datasets: dict[str, list[dict[str, Any]]] = {}
    for name, ds in assembled.config.datasets.items():
        try:
            datasets[name] = load_dataset(assembled.base_dir / ds.file, ds.format, f"datasets.{field_name(name)}")
        except UsageError as exc:
            raise _located(assembled, exc.field, exc.message, ("datasets", name)) from None
    return datasets


def _check_tools(assembled: Assembled, datasets: Mapping[str, list[dict[str, Any]]]) -> None:
    """Each tool's dataset exists and its argument templates compile (so validate finds syntax errors)."""
    for index, tool in enumerate(assembled.config.flow.tools):
        where = f"flow.tools[{index}]"
        if tool.dataset is not None and tool.dataset not in datasets:
            known = ", ".join(datasets) or "none"
            path = ("flow", "tools", index, "dataset")
            raise _located(assembled, f"{where}.dataset", f"no dataset {tool.dataset!r} ({known})", path)
        if isinstance(tool.arguments, dict):
            try:
                ArgumentTemplate(tool.arguments, f"{where}.arguments")
            except UsageError as exc:
                raise _located(assembled, exc.field, exc.message) from None
        if tool.expect is not None:
            try:
                Expect(tool.expect, f"{where}.expect")
            except UsageError as exc:
                raise _located(assembled, exc.field, exc.message) from None
    try:  # the flows of steps: templates compile, datasets exist, captures come before their use
        check_program(assembled.config)
    except UsageError as exc:
        raise _located(assembled, exc.field, exc.message) from None


_FIELD_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")


def _located(assembled: Assembled, field: str, message: str, path: tuple[str | int, ...] | None = None) -> UsageError:
    """``FILE:LINE: field: message`` for a config file (the line where ``path``, or the key ``field``
    names, is written, or the nearest key above it); ``field: message`` when there is no file."""
    if assembled.lines is None:
        return UsageError(field, message)
    line = line_of(assembled.lines, _field_path(field) if path is None else path)
    return UsageError(f"{assembled.source}:{line}", f"{field}: {message}" if field else message)


def _field_path(field: str) -> tuple[str | int, ...]:
    """``flow.tools[0].arguments['a b']`` -> ('flow', 'tools', 0, 'arguments', 'a b'): a LineMap key."""
    path: list[str | int] = []
    for match in _FIELD_PART.finditer(field):
        name, index, quoted = match.groups()
        if index is not None:
            path.append(int(index))
        elif quoted is not None:
            path.append(ast.literal_eval(quoted))
        else:
            path.append(name)
    return tuple(path)


def scenario_plan(name: str, s: Scenario) -> ScenarioPlan:
    if isinstance(s, ConstantVus):
        return ScenarioPlan(name, s.executor, s.start_time, s.duration, s.graceful_stop, s.vus, steps=((0.0, s.vus),))
    if isinstance(s, RampingVus):
        stages = [Stage(st.duration, st.target) for st in s.stages]
        return ScenarioPlan(
            name,
            s.executor,
            s.start_time,
            total_duration(stages),
            s.graceful_stop,
            max(1, max_vus(s.start_vus, stages)),
            steps=tuple(ramping_vus_steps(s.start_vus, stages)),
            graceful_ramp_down=s.graceful_ramp_down,
        )
    if isinstance(s, ConstantArrivalRate):
        schedule = ArrivalSchedule.constant(s.rate / s.time_unit, s.duration)
        return _arrival_plan(name, s, schedule, s.duration)
    assert isinstance(s, RampingArrivalRate)
    stages = [Stage(st.duration, st.target / s.time_unit) for st in s.stages]
    schedule = ArrivalSchedule(s.start_rate / s.time_unit, stages)
    return _arrival_plan(name, s, schedule, schedule.duration)


def _arrival_plan(
    name: str, s: ConstantArrivalRate | RampingArrivalRate, schedule: ArrivalSchedule, duration: float
) -> ScenarioPlan:
    """An open-model scenario: its schedule, and the VUs that serve it."""
    return ScenarioPlan(
        name,
        s.executor,
        s.start_time,
        duration,
        s.graceful_stop,
        max(s.max_vus or s.pre_allocated_vus, s.pre_allocated_vus),
        schedule=schedule,
        pre_allocated=s.pre_allocated_vus,
    )


def breakpoint_scenario(search: BreakpointPlan) -> ScenarioPlan:
    """The one scenario that climbs the search's ladder; the engine stops it at the first step that breaks."""
    if search.schedule is not None:
        return ScenarioPlan(
            BREAKPOINT_SCENARIO,
            "ramping-arrival-rate",
            0.0,
            search.duration,
            BREAKPOINT_GRACE,
            search.max_vus,
            schedule=search.schedule,
            pre_allocated=search.pre_allocated_vus,
            label=search.describe(),
        )
    return ScenarioPlan(
        BREAKPOINT_SCENARIO,
        "ramping-vus",
        0.0,
        search.duration,
        BREAKPOINT_GRACE,
        search.max_vus,
        steps=vus_steps(search),
        graceful_ramp_down=BREAKPOINT_GRACE,
        label=search.describe(),
    )


def digest(config: Config) -> str:
    """A fingerprint of what was run, with secrets masked so it can be published."""
    data = config.model_dump(mode="json")
    target = data["target"]
    if target.get("bearer_token"):
        target["bearer_token"] = MASK
    target["headers"] = {k: MASK if sensitive_name(k) else v for k, v in target.get("headers", {}).items()}
    return "sha256:" + hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


# What a production endpoint may take without --allow-production-load: a smoke check, not a load test.
SMOKE_VUS = 2
SMOKE_SECONDS = 300.0
SMOKE_RATE = 2.0  # iterations per second, for arrival-rate scenarios


def production_guard(plan: Plan, allow: bool) -> None:
    """Refuse more than smoke-level load against production unless the user says so."""
    if allow:
        return
    peak_rate = max((s.schedule.peak_rate for s in plan.scenarios if s.schedule is not None), default=0.0)
    if plan.max_vus > SMOKE_VUS or plan.duration > SMOKE_SECONDS or peak_rate > SMOKE_RATE:
        shape = f"up to {plan.max_vus} VUs for {format_duration(plan.duration)}"
        limit = f"{SMOKE_VUS} VUs, {SMOKE_RATE:g} iterations/s, {format_duration(SMOKE_SECONDS)}"
        raise UsageError(
            "environment",
            f"production: this run ({shape}) is above smoke level ({limit}); "
            "use the smoke profile or smoke-only, or set allow-production-load",
        )


def shard_guard(plan: Plan, sharded: bool, field: str) -> None:
    """A breakpoint search stops at the first step that breaks; split over machines, each would stop at its own."""
    if sharded and plan.breakpoint is not None:
        raise UsageError(
            field,
            "a breakpoint search runs on one machine (each shard would stop at its own breaking step); "
            "--workers spreads it over the machine's cores",
        )
