"""The seed guide's load profiles, and how ``--vus`` and ``--duration`` reshape any profile.

Each profile gives scenarios, a think time and the thresholds the guide uses
with it; the thresholds apply only when the user sets none of their own.
Metrics that exist in one protocol era only (initialize vs server/discover)
are marked allow_no_data, so a default gate never fails for the era it cannot see.
"""

from __future__ import annotations

import copy
import math
from typing import Any

PROFILES = ("smoke", "load", "spike", "soak", "breakpoint")
BREAKPOINT = "breakpoint"  # its one scenario is built from the config's breakpoint section (see breakpoint.py)

_ERA_SPECIFIC = {"allow_no_data": True}

_DEFINITIONS: dict[str, dict[str, Any]] = {
    "smoke": {
        "scenarios": {"smoke": {"executor": "constant-vus", "vus": 1, "duration": "30s"}},
        "think_time": "1s",
        "thresholds": {
            "http_req_failed": ["rate<0.01"],
            "mcp_init_errors": ["count<1"],
        },
    },
    "load": {
        "scenarios": {
            "load": {
                "executor": "ramping-vus",
                "start_vus": 0,
                "stages": [
                    {"duration": "2m", "target": 20},
                    {"duration": "5m", "target": 20},
                    {"duration": "2m", "target": 50},
                    {"duration": "3m", "target": 50},
                    {"duration": "2m", "target": 0},
                ],
            }
        },
        "think_time": "0.5s..2s",
        "thresholds": {
            "http_req_failed": ["rate<0.01"],
            "mcp_init_errors": ["count<5"],
            "mcp_tool_errors": ["rate<0.02"],
            "mcp_init_duration": [{"threshold": "p(95)<1000", **_ERA_SPECIFIC}],
            "mcp_discover_duration": [{"threshold": "p(95)<1000", **_ERA_SPECIFIC}],
            "mcp_tool_duration": ["p(95)<3000", "p(99)<8000"],
        },
    },
    "spike": {
        "scenarios": {
            "spike": {
                "executor": "ramping-vus",
                "start_vus": 0,
                "stages": [
                    {"duration": "30s", "target": 5},
                    {"duration": "10s", "target": 100},
                    {"duration": "3m", "target": 100},
                    {"duration": "10s", "target": 5},
                    {"duration": "2m", "target": 5},
                    {"duration": "10s", "target": 0},
                ],
            }
        },
        "think_time": "0.5s..2s",
        "thresholds": {
            "mcp_tool_duration": ["p(95)<5000"],
            "http_req_failed": ["rate<0.02"],
        },
    },
    "soak": {
        "scenarios": {"soak": {"executor": "constant-vus", "vus": 10, "duration": "2h"}},
        "think_time": "0.5s..2s",
        "thresholds": {
            "mcp_tool_duration": ["p(95)<3000"],
            "http_req_failed": ["rate<0.01"],
        },
    },
    # Judged on each step alone; failed requests and MCP steps are held to breakpoint.max_error_rate.
    BREAKPOINT: {
        "scenarios": {},
        "think_time": "0.5s..2s",
        "thresholds": {
            "mcp_tool_duration": ["p(95)<3000"],
            "mcp_init_duration": [{"threshold": "p(95)<1000", **_ERA_SPECIFIC}],
            "mcp_discover_duration": [{"threshold": "p(95)<1000", **_ERA_SPECIFIC}],
        },
    },
}


def profile(name: str) -> dict[str, Any]:
    """A deep copy of the profile's raw config pieces (scenarios, think_time, thresholds)."""
    return copy.deepcopy(_DEFINITIONS[name])


def scale_vus(scenarios: dict[str, dict[str, Any]], peak: int) -> None:
    """Scale every VU count so the largest becomes ``peak`` (ramps keep their shape)."""
    current = max((_peak_vus(s) for s in scenarios.values()), default=0)
    factor = peak / current if current else 1.0
    for s in scenarios.values():
        executor = s.get("executor")
        if executor == "constant-vus":
            s["vus"] = _scaled(s.get("vus", 1), factor)
        elif executor == "ramping-vus":
            s["start_vus"] = _scaled(_get(s, "start_vus", "startVUs", 1), factor)
            s.pop("startVUs", None)
            for stage in s.get("stages", []):
                stage["target"] = _scaled(stage.get("target", 0), factor)
        elif executor in ("constant-arrival-rate", "ramping-arrival-rate"):
            # VUs do not set an open model's load; --vus caps how many may serve it.
            s["max_vus"] = peak
            s.pop("maxVUs", None)
            pre = _get(s, "pre_allocated_vus", "preAllocatedVUs", 1)
            s["pre_allocated_vus"] = min(int(pre), peak)
            s.pop("preAllocatedVUs", None)


def scale_duration(scenarios: dict[str, dict[str, Any]], total: float, parse: Any) -> None:
    """Stretch or shrink every time value so the longest scenario lasts ``total`` seconds."""
    longest = max((_end(s, parse) for s in scenarios.values()), default=0.0)
    if longest <= 0:
        return
    factor = total / longest
    for s in scenarios.values():
        for key in ("duration", "start_time", "startTime"):
            if key in s:
                s[key] = parse(s[key]) * factor
        for stage in s.get("stages", []):
            stage["duration"] = parse(stage["duration"]) * factor


def _scaled(value: Any, factor: float) -> int:
    """Round half up, and never scale a VU count that was above zero down to none."""
    number = float(value)
    return 0 if number <= 0 else max(1, math.floor(number * factor + 0.5))


def _get(s: dict[str, Any], key: str, alias: str, default: Any) -> Any:
    return s.get(key, s.get(alias, default))


def _peak_vus(s: dict[str, Any]) -> int:
    executor = s.get("executor")
    if executor == "constant-vus":
        return int(s.get("vus", 1))
    if executor == "ramping-vus":
        targets = [float(st.get("target", 0)) for st in s.get("stages", [])]
        return math.ceil(max([float(_get(s, "start_vus", "startVUs", 1)), *targets]))
    return 0


def _end(s: dict[str, Any], parse: Any) -> float:
    start = parse(_get(s, "start_time", "startTime", 0))
    if "stages" in s:
        return float(start + sum(parse(st.get("duration", 0)) for st in s["stages"]))
    return float(start + parse(s.get("duration", 0)))
