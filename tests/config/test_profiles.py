from __future__ import annotations

from typing import Any

import pytest

from mcpgate.config.profiles import PROFILES, profile, scale_duration, scale_vus
from mcpgate.support.durations import parse_duration


def test_the_load_profile_is_the_seed_guides() -> None:
    stages = profile("load")["scenarios"]["load"]["stages"]
    assert [(s["duration"], s["target"]) for s in stages] == [("2m", 20), ("5m", 20), ("2m", 50), ("3m", 50), ("2m", 0)]


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_carries_thresholds_and_think_time(name: str) -> None:
    pieces = profile(name)
    assert pieces["thresholds"]
    assert pieces["think_time"]


def test_vus_scale_the_peak_and_keep_the_shape() -> None:
    scenarios: dict[str, dict[str, Any]] = profile("load")["scenarios"]
    scale_vus(scenarios, 10)
    assert [s["target"] for s in scenarios["load"]["stages"]] == [4, 4, 10, 10, 0]


def test_duration_scales_every_stage_to_the_new_total() -> None:
    scenarios: dict[str, dict[str, Any]] = profile("spike")["scenarios"]
    scale_duration(scenarios, 37.0, parse_duration)
    total = sum(s["duration"] for s in scenarios["spike"]["stages"])
    assert total == pytest.approx(37.0)


def test_arrival_rate_scenarios_take_vus_as_their_cap() -> None:
    scenarios: dict[str, dict[str, Any]] = {
        "a": {"executor": "constant-arrival-rate", "rate": 5, "duration": "1m", "preAllocatedVUs": 50, "maxVUs": 100}
    }
    scale_vus(scenarios, 20)
    assert (scenarios["a"]["pre_allocated_vus"], scenarios["a"]["max_vus"]) == (20, 20)
