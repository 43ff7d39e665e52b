"""One config from three sources: the YAML file, a profile, and flags (flags win).

Flags are checked where argparse reads them, so what reaches validation is
either from the file (errors name file:line) or already valid.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpgate.config.loader import LineMap, load_yaml, validate_config
from mcpgate.config.models import Config
from mcpgate.config.profiles import PROFILES, profile, scale_duration, scale_vus
from mcpgate.durations import parse_duration
from mcpgate.errors import UsageError
from mcpgate.thresholds import merge_cli

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
    tools: tuple[dict[str, Any], ...] | None = None  # replaces flow.tools (the action's `tools` input)


@dataclass(frozen=True)
class Assembled:
    config: Config
    source: str  # the config file, or "flags"
    base_dir: Path  # where relative dataset paths start
    profile: str | None  # the profile whose scenarios run, if any
    notes: tuple[str, ...]
    lines: LineMap | None = None  # where each key of the config file is written; None: no file


def assemble(path: Path | None, flags: Overrides) -> Assembled:
    notes: list[str] = []
    file_lines: LineMap | None = None
    if path is not None:
        data, lines = load_yaml(path)
        source, base_dir, file_lines = str(path), path.parent, lines
    else:
        data, lines, source, base_dir = {}, {}, "flags", Path.cwd()
    data = copy.deepcopy(data)
    target = data.setdefault("target", {})
    if not isinstance(target, dict):
        raise UsageError(f"{source}:{lines.get(('target',), 1)}", "target: must be a mapping")
    if flags.url is not None:
        target["url"] = flags.url
    if "url" not in target:
        if path is not None:
            line = lines.get(("target",), lines.get((), 1))
            raise UsageError(f"{source}:{line}", "target: missing required key 'url' (or give --url)")
        raise UsageError("--url", "no target: give --url URL or target.url in a config file (-c)")
    target.update(flags.target)
    if flags.headers:
        headers = target.setdefault("headers", {})
        if isinstance(headers, dict):
            headers.update(flags.headers)
    if flags.env_token and not target.get("bearer_token"):
        target["bearer_token"] = flags.env_token  # the environment fills in; the config's own token wins
    if flags.seed is not None:
        data["seed"] = flags.seed
    if flags.tools is not None:
        flow_data = data.setdefault("flow", {})
        if isinstance(flow_data, dict):
            flow_data["tools"] = [dict(tool) for tool in flags.tools]

    chosen = flags.profile
    if chosen is None and not data.get("scenarios"):
        chosen = DEFAULT_PROFILE
        notes.append(f"no scenarios configured: running the {DEFAULT_PROFILE} profile")
    if chosen is not None:
        if chosen not in PROFILES:
            raise UsageError("--profile", f"unknown profile {chosen!r} (choose from {', '.join(PROFILES)})")
        pieces = profile(chosen)
        data["scenarios"] = pieces["scenarios"]
        flow = data.setdefault("flow", {})
        if isinstance(flow, dict) and "think_time" not in flow:
            flow["think_time"] = pieces["think_time"]
        if not data.get("thresholds"):
            data["thresholds"] = pieces["thresholds"]  # --threshold adds to these, or replaces per metric
            notes.append(f"the {chosen} profile's thresholds apply (the config sets none)")

    unscalable: UsageError | None = None
    scenarios = data.get("scenarios")
    if isinstance(scenarios, dict) and all(isinstance(s, dict) for s in scenarios.values()):
        unscalable = _scale(scenarios, flags)
    if flags.thresholds:
        raw = data.get("thresholds") or {}
        if not isinstance(raw, dict):
            raise UsageError(f"{source}:{lines.get(('thresholds',), 1)}", "thresholds: must be a mapping")
        try:
            data["thresholds"] = merge_cli(raw, flags.thresholds)
        except ValueError as exc:
            raise UsageError("--threshold", str(exc)) from None
    config = validate_config(data, lines, source)
    if unscalable is not None:
        raise unscalable
    return Assembled(config, source, base_dir, chosen, tuple(notes), file_lines)


def _scale(scenarios: dict[str, Any], flags: Overrides) -> UsageError | None:
    """Apply --vus and --duration to the raw scenarios, or say why they cannot apply.

    Scaling reads the scenarios before validation: when they are malformed they are left as
    written, so validation reports the mistake at its line; only a flag that cannot apply to
    valid scenarios (a VU count too large to compute with) is the error.
    """
    for flag, value in (("--vus", flags.vus), ("--duration", flags.duration)):
        if value is None:
            continue
        before = copy.deepcopy(scenarios)
        try:
            if flag == "--vus":
                scale_vus(scenarios, int(value))
            else:
                scale_duration(scenarios, float(value), parse_duration)
        except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as exc:
            scenarios.clear()
            scenarios.update(before)
            return UsageError(flag, f"cannot scale the scenarios: {exc}")
    return None
