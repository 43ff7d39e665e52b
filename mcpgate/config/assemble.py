"""One config from three sources: the YAML file, a profile, and the options (the options win).

The options are checked as a door reads them (app/requests.py), so what
reaches validation is either from the file (errors name file:line) or already
valid. An option's own errors name it by its canonical name (``vus``,
``thresholds``), which each door spells its own way.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from mcpgate.config.loader import LineMap, load_yaml, validate_config
from mcpgate.config.models import MIN_STEP_SECONDS, BreakpointConfig, Config
from mcpgate.config.profiles import BREAKPOINT, PROFILES, profile, scale_duration, scale_vus
from mcpgate.config.thresholds import merge_cli
from mcpgate.support.durations import format_duration, parse_duration
from mcpgate.support.errors import UsageError

DEFAULT_PROFILE = "smoke"


@dataclass(frozen=True)
class Overrides:
    """What flags said; None means the flag was not given."""

    url: str | None = None
    target: dict[str, Any] = field(default_factory=dict)  # target keys set by flags
    headers: dict[str, str] = field(default_factory=dict)
    profile: str | None = None
    vus: int | None = None
    duration: float | None = None
    thresholds: tuple[str, ...] = ()
    seed: int | None = None
    env_token: str | None = None  # MCPGATE_BEARER_TOKEN: used when neither the flags nor the config give one
    auth: dict[str, Any] = field(default_factory=dict)  # target.auth keys set by flags
    env_auth: dict[str, Any] = field(default_factory=dict)  # target.auth secrets the environment fills in
    tools: tuple[dict[str, Any], ...] | None = None  # replaces flow.tools (the action's `tools` input)
    min_breaking_point: float | None = None  # --min-breaking-point: breakpoint.min_breaking_point
    breakpoint: dict[str, Any] | None = None  # keys of the breakpoint section (the action's `breakpoint` input)
    require_calls: bool = False  # --require-calls: flow.require_calls


@dataclass(frozen=True)
class Assembled:
    config: Config
    source: str  # the config file, or "flags"
    base_dir: Path  # where relative dataset paths start
    profile: str | None  # the profile whose scenarios run, if any
    notes: tuple[str, ...]
    lines: LineMap | None = None  # where each key of the config file is written; None: no file


def assemble(path: Path | None, flags: Overrides) -> Assembled:
    """The config file (if any), with its profile and the flags applied, validated."""
    notes: list[str] = []
    file_lines: LineMap | None = None
    if path is not None:
        data, lines = load_yaml(path)
        source, base_dir, file_lines = str(path), path.parent, lines
    else:
        data, lines, source, base_dir = {}, {}, "flags", Path.cwd()
    data = copy.deepcopy(data)
    _target(data, lines, source, flags, from_file=path is not None)
    chosen = _profile(data, lines, source, flags, notes)
    if chosen == BREAKPOINT:
        _breakpoint_overrides(data, flags)
    elif flags.min_breaking_point is not None:
        raise UsageError("min-breaking-point", "only applies to the breakpoint profile (--profile breakpoint)")
    elif flags.breakpoint:
        raise UsageError("breakpoint", "only applies to the breakpoint profile (profile: breakpoint)")
    unscalable: UsageError | None = None
    scenarios = data.get("scenarios")
    if isinstance(scenarios, dict) and all(isinstance(s, dict) for s in scenarios.values()):
        unscalable = _scale(scenarios, flags)
    _thresholds(data, lines, source, flags)
    config = validate_config(data, lines, source)
    if unscalable is not None:
        raise unscalable
    if chosen == BREAKPOINT:
        config = config.model_copy(update={"breakpoint": _breakpoint_flags(config.breakpoint, flags)})
    return Assembled(config, source, base_dir, chosen, tuple(notes), file_lines)


def _target(data: dict[str, Any], lines: LineMap, source: str, flags: Overrides, *, from_file: bool) -> None:
    """The target section with the flags over it: the URL, target keys, headers, token, seed and tool mix."""
    target = data.setdefault("target", {})
    if not isinstance(target, dict):
        raise UsageError(f"{source}:{lines.get(('target',), 1)}", "target: must be a mapping")
    if flags.url is not None:
        target["url"] = flags.url
    if "url" not in target:
        if from_file:
            line = lines.get(("target",), lines.get((), 1))
            raise UsageError(f"{source}:{line}", "target: missing required key 'url' (or give --url)")
        raise UsageError("url", "no target: give --url URL or target.url in a config file (-c)")
    target.update(flags.target)
    if flags.headers:
        headers = target.setdefault("headers", {})
        if isinstance(headers, dict):
            headers.update(flags.headers)
    if flags.env_token and not target.get("bearer_token"):
        target["bearer_token"] = flags.env_token  # the environment fills in; the config's own token wins
    if flags.auth or isinstance(target.get("auth"), dict):
        target["auth"] = merged_auth(target.get("auth") or {}, flags.auth, flags.env_auth)
    if flags.seed is not None:
        data["seed"] = flags.seed
    if flags.tools is not None:
        flow_data = data.setdefault("flow", {})
        if isinstance(flow_data, dict):
            flow_data["tools"] = [dict(tool) for tool in flags.tools]
    if flags.require_calls and isinstance(data.setdefault("flow", {}), dict):
        data["flow"]["require_calls"] = True


def _profile(data: dict[str, Any], lines: LineMap, source: str, flags: Overrides, notes: list[str]) -> str | None:
    """The profile whose scenarios run (the flag's, the file's own, or smoke when there are none), applied."""
    chosen = flags.profile
    if chosen is None:
        chosen = _file_profile(data, lines, source)
    if chosen is None and not data.get("scenarios"):
        chosen = DEFAULT_PROFILE
        notes.append(f"no scenarios configured: running the {DEFAULT_PROFILE} profile")
    if chosen is None:
        return None
    if chosen not in PROFILES:
        raise UsageError("profile", f"unknown profile {chosen!r} (choose from {', '.join(PROFILES)})")
    pieces = profile(chosen)
    data["scenarios"] = pieces["scenarios"]
    flow = data.setdefault("flow", {})
    if isinstance(flow, dict) and "think_time" not in flow:
        flow["think_time"] = pieces["think_time"]
    if not data.get("thresholds"):
        data["thresholds"] = pieces["thresholds"]  # --threshold adds to these, or replaces per metric
        notes.append(f"the {chosen} profile's thresholds apply (the config sets none)")
    return chosen


def _thresholds(data: dict[str, Any], lines: LineMap, source: str, flags: Overrides) -> None:
    """--threshold over the file's (or the profile's) thresholds: added, or replacing per metric."""
    if not flags.thresholds:
        return
    raw = data.get("thresholds") or {}
    if not isinstance(raw, dict):
        raise UsageError(f"{source}:{lines.get(('thresholds',), 1)}", "thresholds: must be a mapping")
    try:
        data["thresholds"] = merge_cli(raw, flags.thresholds)
    except ValueError as exc:
        raise UsageError("thresholds", str(exc)) from None


def _file_profile(data: dict[str, Any], lines: LineMap, source: str) -> str | None:
    """The config file's own ``profile:``; a profile brings its scenarios, so the file cannot have both."""
    chosen = data.get("profile")
    if chosen is None:
        return None
    where = f"{source}:{lines.get(('profile',), 1)}"
    if chosen not in PROFILES:
        raise UsageError(where, f"profile: unknown profile {chosen!r} (choose from {', '.join(PROFILES)})")
    if data.get("scenarios"):
        raise UsageError(where, "profile: the file has scenarios too; a profile brings its own, so keep one")
    return str(chosen)


def _breakpoint_overrides(data: dict[str, Any], flags: Overrides) -> None:
    """The action's ``breakpoint`` keys and --min-breaking-point, over the file's section."""
    section = data.get("breakpoint")
    if section is None:
        section = data["breakpoint"] = {}
    if not isinstance(section, dict):
        return  # validation names the mistake at its line
    section.update(flags.breakpoint or {})
    if flags.min_breaking_point is not None:
        section["min_breaking_point"] = flags.min_breaking_point


def _breakpoint_flags(bp: BreakpointConfig, flags: Overrides) -> BreakpointConfig:
    """--vus and --duration for a search: the VUs (the top step, or the cap on VUs serving a rate), the total time.

    --vus N with executor: vus climbs to N VUs; with executor: arrival it caps the VUs that serve
    the rate, as for any arrival-rate scenario. --duration D shares D out among the steps.
    """
    if flags.vus is None and flags.duration is None:
        return bp
    fields = {name: getattr(bp, name) for name in bp.model_fields_set}
    if flags.vus is not None:
        if bp.executor == "vus":
            if flags.vus < bp.start:
                start = f"breakpoint.start ({bp.start:g})"
                raise UsageError("vus", f"{flags.vus} is below {start}: the search climbs from there to --vus")
            if bp.min_breaking_point is not None and flags.vus < bp.min_breaking_point:
                limit = f"{bp.min_breaking_point:g}"
                raise UsageError("vus", f"{flags.vus} is below the minimum breaking point ({limit}): it cannot pass")
            fields["max"] = float(flags.vus)
        else:
            fields["max_vus"] = flags.vus
            if bp.pre_allocated_vus is not None and bp.pre_allocated_vus > flags.vus:
                fields["pre_allocated_vus"] = flags.vus
    if flags.duration is not None:
        steps = len(bp.model_copy(update={"max": fields.get("max", bp.max)}).levels())
        seconds = flags.duration / steps
        if seconds < MIN_STEP_SECONDS:
            need = f"at least {format_duration(steps * MIN_STEP_SECONDS)} ({MIN_STEP_SECONDS:g}s each)"
            raise UsageError("duration", f"the search's {steps} steps need {need}")
        fields["step_duration"] = seconds
    try:
        return BreakpointConfig.model_validate(fields)
    except pydantic.ValidationError as exc:
        flag = "duration" if flags.vus is None else "vus"
        message = str(exc.errors()[0].get("msg", exc)).removeprefix("Value error, ")
        raise UsageError(flag, message) from None


def _scale(scenarios: dict[str, Any], flags: Overrides) -> UsageError | None:
    """Apply --vus and --duration to the raw scenarios, or say why they cannot apply.

    Scaling reads the scenarios before validation: when they are malformed they are left as
    written, so validation reports the mistake at its line; only a flag that cannot apply to
    valid scenarios (a VU count too large to compute with) is the error.
    """
    for flag, value in (("vus", flags.vus), ("duration", flags.duration)):
        if value is None:
            continue
        before = copy.deepcopy(scenarios)
        try:
            if flag == "vus":
                scale_vus(scenarios, int(value))
            else:
                scale_duration(scenarios, float(value), parse_duration)
        except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as exc:
            scenarios.clear()
            scenarios.update(before)
            return UsageError(flag, f"cannot scale the scenarios: {exc}")
    return None


def merged_auth(config: dict[str, Any], given: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """``target.auth`` with the flags over it, and the environment's secrets where that grant takes them."""
    own = {**config, **given}
    kind = own.get("type") or ("refresh_token" if "refresh_token" in own else "bearer" if "token" in own else None)
    if kind == "bearer":
        return own
    env = {k: v for k, v in env.items() if k != "refresh_token" or kind == "refresh_token"}
    return {**env, **own}
