"""Every executor, run for real against our in-process server, judged by what the server saw and what was recorded."""

from __future__ import annotations

from pathlib import Path

from mcpgate.plan.schedule import ArrivalSchedule, Stage
from mcpgate.support import exitcodes
from tests.faultserver import FaultServer
from tests.run.helpers import TOOL_CALL, calls_seen, count, plan_from, run, target

STEPS_PER_ITERATION = 5  # initialize, notifications/initialized, tools/list, tools/call, DELETE


async def test_constant_vus(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "50ms"},
        "scenarios": {"steady": {"executor": "constant-vus", "vus": 3, "duration": "1.5s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason
    iterations = count(results, "iterations")
    assert iterations >= 3 * 10  # each VU loops every ~50 ms for 1.5 s
    # Every iteration finished (graceful stop): each made exactly its five requests.
    assert count(results, "http_reqs") == STEPS_PER_ITERATION * iterations
    assert results.metric("vus_max", "max") == 3
    assert count(results, "http_reqs{method:tools/call}") == iterations
    assert {r.name for r in results.tools} == {"echo"}


async def test_ramping_vus_follows_its_stages(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "50ms"},
        "scenarios": {
            "ramp": {
                "executor": "ramping-vus",
                "startVUs": 0,
                "stages": [
                    {"duration": "1s", "target": 4},
                    {"duration": "1s", "target": 4},
                    {"duration": "1s", "target": 0},
                ],
                "gracefulRampDown": "1s",
            }
        },
    }
    results, _ = await run(plan_from(tmp_path, config), interval=0.25)
    assert results.run.status == "passed", results.run.reason
    assert results.timeseries is not None
    vus = [p.vus for p in results.timeseries.points]
    assert max(vus) == 4
    assert vus[0] <= 2  # still ramping up at 0.25 s
    # In the sustained second, every point holds all four VUs.
    steady = [p.vus for p in results.timeseries.points if 1.25 <= p.t <= 2.0]
    assert steady
    assert set(steady) == {4}
    assert results.run.duration_s < 4.5


async def test_constant_arrival_rate_starts_exactly_on_schedule(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": TOOL_CALL,
        "scenarios": {
            "open": {
                "executor": "constant-arrival-rate",
                "rate": 20,
                "timeUnit": "1s",
                "duration": "2s",
                "preAllocatedVUs": 5,
                "maxVUs": 20,
            }
        },
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason
    assert count(results, "iterations") == 40  # k6: one at t=0, then every 50 ms, none at t=2s
    assert count(results, "dropped_iterations") == 0


async def test_arrival_rate_drops_what_it_cannot_start(faults: FaultServer, tmp_path: Path) -> None:
    # Each call takes 0.3 s and only two VUs may exist: most of 20 arrivals in a second find none free.
    config = {
        "target": target(faults.url("slow-call")),
        "flow": TOOL_CALL,
        "scenarios": {
            "open": {
                "executor": "constant-arrival-rate",
                "rate": 20,
                "duration": "1s",
                "preAllocatedVUs": 1,
                "maxVUs": 2,
            }
        },
    }
    results, _ = await run(plan_from(tmp_path, config))
    started, dropped = count(results, "iterations"), count(results, "dropped_iterations")
    assert started + dropped == 20
    assert dropped >= 12
    assert results.metric("vus_max", "max") == 2


async def test_ramping_arrival_rate_matches_its_schedule(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": TOOL_CALL,
        "scenarios": {
            "ramp": {
                "executor": "ramping-arrival-rate",
                "startRate": 0,
                "preAllocatedVUs": 10,
                "stages": [{"duration": "1s", "target": 30}, {"duration": "1s", "target": 30}],
            }
        },
    }
    results, _ = await run(plan_from(tmp_path, config))
    expected = ArrivalSchedule(0, [Stage(1, 30), Stage(1, 30)]).total()
    assert count(results, "iterations") + count(results, "dropped_iterations") == expected
    assert count(results, "dropped_iterations") == 0


async def test_start_time_delays_a_scenario(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "100ms"},
        "scenarios": {
            "first": {"executor": "constant-vus", "vus": 1, "duration": "0.5s"},
            "later": {"executor": "constant-vus", "vus": 1, "duration": "0.5s", "startTime": "1s"},
        },
    }
    results, _ = await run(plan_from(tmp_path, config), interval=0.25)
    assert results.run.status == "passed", results.run.reason
    assert count(results, "iterations{scenario:first}") > 0
    assert count(results, "iterations{scenario:later}") > 0
    assert 1.5 <= results.run.duration_s < 2.5
    assert results.timeseries is not None
    idle = [p for p in results.timeseries.points if 0.75 <= p.t <= 1.0]
    assert idle
    assert all(p.vus == 0 for p in idle)  # between the first scenario's end and the second's start


async def test_graceful_stop_interrupts_what_outlasts_it(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("slow-call")),
        "flow": TOOL_CALL,
        "scenarios": {"s": {"executor": "constant-vus", "vus": 2, "duration": "0.2s", "gracefulStop": "0.05s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    # Both VUs are inside their first 0.3 s call when the 50 ms grace ends: both are interrupted.
    assert results.run.interrupted_iterations == 2, results.run
    assert count(results, "iterations") == 0
    assert results.run.duration_s < 0.6


async def test_a_vu_ramped_down_and_up_again_never_runs_twice(faults: FaultServer, tmp_path: Path) -> None:
    before = len(faults.seen["slow-call"])
    config = {
        "target": target(faults.url("slow-call")),
        "flow": {**TOOL_CALL},
        "scenarios": {
            "wave": {
                "executor": "ramping-vus",
                "startVUs": 2,
                "stages": [
                    {"duration": "0s", "target": 2},
                    {"duration": "0.1s", "target": 1},
                    {"duration": "0.2s", "target": 1},
                    {"duration": "0.1s", "target": 2},
                    {"duration": "0.6s", "target": 2},
                ],
                "gracefulRampDown": "2s",
            }
        },
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.OK, results.run.reason
    pairs = [a["text"] for a in calls_seen(faults, "slow-call", before)]
    assert len(pairs) == len(set(pairs))  # no (vu, iteration) pair sent twice
    assert results.metric("vus_max", "max") == 2


async def test_vu_numbers_are_global_across_scenarios(faults: FaultServer, tmp_path: Path) -> None:
    before = len(faults.seen["ok"])
    flow = {"think_time": "50ms", "tools": [{"name": "echo", "arguments": {"text": "{{ scenario }}:{{ vu }}"}}]}
    config = {
        "target": target(faults.url("ok")),
        "flow": flow,
        "scenarios": {
            "a": {"executor": "constant-vus", "vus": 2, "duration": "0.3s"},
            "b": {"executor": "constant-vus", "vus": 2, "duration": "0.3s"},
        },
    }
    await run(plan_from(tmp_path, config))
    seen = {a["text"] for a in calls_seen(faults, "ok", before)}
    assert seen == {"a:1", "a:2", "b:3", "b:4"}


async def test_think_time_does_not_throttle_an_open_model(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "1s"},
        "scenarios": {"o": {"executor": "constant-arrival-rate", "rate": 20, "duration": "1s", "preAllocatedVUs": 5}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert count(results, "iterations") == 20
    assert count(results, "dropped_iterations") == 0
