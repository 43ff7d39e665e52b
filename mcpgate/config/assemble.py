"""One config from three sources: the YAML file, a profile, and flags (flags win).

Flags are checked where argparse reads them, so what reaches validation is
either from the file (errors name file:line) or already valid.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpgate.config.loader import load_yaml, validate_config
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


def assemble(path: Path | None, flags: Overrides) -> Assembled:
    notes: list[str] = []
    if path is not None:
        data, lines = load_yaml(path)
        source, base_dir = str(path), path.parent
    else:
        data, lines, source, base_dir = {}, {}, "flags", Path.cwd()
    data = copy.deepcopy(data)
    target = data.setdefault("target", {})
    if not isinstance(target, dict):
        raise UsageError(f"{source}:{lines.get(('target',), 1)}", "target: must be a mapping")
    if flags.url is not None:
        target["url"] = flags.url
    if "url" not in target:
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

    scenarios = data.get("scenarios")
    if isinstance(scenarios, dict) and all(isinstance(s, dict) for s in scenarios.values()):
        try:
            if flags.vus is not None:
                scale_vus(scenarios, flags.vus)
            if flags.duration is not None:
                scale_duration(scenarios, flags.duration, parse_duration)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{source}: scenarios", f"cannot scale: {exc}") from None
    if flags.thresholds:
        raw = data.get("thresholds") or {}
        if not isinstance(raw, dict):
            raise UsageError(f"{source}:{lines.get(('thresholds',), 1)}", "thresholds: must be a mapping")
        try:
            data["thresholds"] = merge_cli(raw, flags.thresholds)
        except ValueError as exc:
            raise UsageError("--threshold", str(exc)) from None
    config = validate_config(data, lines, source)
    return Assembled(config, source, base_dir, chosen, tuple(notes))
