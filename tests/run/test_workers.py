"""Runs spread over worker processes: the same plan, the same counts, every sample merged."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from mcpgate.app.preflight import preflight
from mcpgate.engine.fleet import Fleet
from mcpgate.engine.runner import Engine
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import Metrics
from mcpgate.protocol.http import make_http
from mcpgate.support import exitcodes
from tests.conftest import PeerFactory
from tests.faultserver import FaultServer
from tests.run.helpers import TOOL_CALL, count, plan_from, run, target
from tests.test_cli_probe import mcpgate

STEPS_PER_ITERATION = 5


def called_with(faults: FaultServer, fault: str) -> list[tuple[int, int]]:
    """(vu, iteration) of every tools/call the server saw, from the "{{ vu }}-{{ iteration }}" argument."""
    pairs = []
    for msg in faults.seen[fault]:
        if msg.get("method") == "tools/call":
            vu, iteration = msg["params"]["arguments"]["text"].split("-")
            pairs.append((int(vu), int(iteration)))
    return pairs


async def test_arrival_rate_over_three_workers_starts_exactly_the_schedule(faults: FaultServer, tmp_path: Path) -> None:
    fault = "ok-workers-arrival"
    config = {
        "target": target(faults.url(fault)),
        "flow": TOOL_CALL,
        "scenarios": {
            "open": {
                "executor": "constant-arrival-rate",
                "rate": 30,
                "timeUnit": "1s",
                "duration": "2s",
                "preAllocatedVUs": 6,
                "maxVUs": 12,
            }
        },
    }
    out = tmp_path / "results.json"
    results, _ = await run(plan_from(tmp_path, config), out=out, workers=3)
    assert results.run.status == "passed", results.run.reason
    assert results.run.workers == 3
    assert count(results, "iterations") == 60  # as one process: one at t=0, then every 1/30 s, none at 2 s
    assert count(results, "dropped_iterations") == 0
    assert count(results, "http_reqs") == STEPS_PER_ITERATION * 60
    pairs = called_with(faults, fault)
    assert len(pairs) == 60
    assert len(set(pairs)) == 60  # no VU ran the same iteration twice: VU numbers are unique across workers
    assert {vu for vu, _ in pairs} <= set(range(1, 13))
    # The timeline is the merged one: its points add up to the totals.
    assert results.timeseries is not None
    assert sum(p.requests for p in results.timeseries.points) == count(results, "http_reqs")
    saved = json.loads(out.read_text())
    assert saved["run"]["workers"] == 3


async def test_ramping_vus_over_two_workers_follows_the_stages(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "50ms"},
        "scenarios": {
            "ramp": {
                "executor": "ramping-vus",
                "startVUs": 0,
                "stages": [
                    {"duration": "1s", "target": 5},
                    {"duration": "1s", "target": 5},
                    {"duration": "1s", "target": 0},
                ],
                "gracefulRampDown": "1s",
            }
        },
    }
    results, _ = await run(plan_from(tmp_path, config), interval=0.25, workers=2)
    assert results.run.status == "passed", results.run.reason
    assert results.timeseries is not None
    steady = [p.vus for p in results.timeseries.points if 1.25 <= p.t <= 2.0]
    assert steady
    assert set(steady) == {5}  # 3 in one worker, 2 in the other, summed at each report
    assert results.metric("vus_max", "max") == 5
    assert count(results, "http_reqs") == STEPS_PER_ITERATION * count(results, "iterations")


async def test_workers_against_the_official_sdk_server(peer: PeerFactory, tmp_path: Path) -> None:
    config = {
        "target": {"url": peer("stateful-sse")},
        "flow": {"tools": [{"name": "get_record", "arguments": {"id": "rec_{{ vu }}"}}]},
        "scenarios": {"steady": {"executor": "constant-vus", "vus": 4, "duration": "1.5s"}},
        "thresholds": {"checks": ["rate>0.99"], "http_req_duration": ["p(95)<2000"]},
    }
    results, summary = await run(plan_from(tmp_path, config), workers=2)
    assert results.run.status == "passed", results.run.reason
    iterations = count(results, "iterations")
    assert iterations >= 4
    assert count(results, "http_reqs{method:tools/call}") == iterations
    assert results.metric("http_req_duration", "count") == count(results, "http_reqs")
    assert "PASSED" in summary


async def points(engine: Engine, n: int) -> None:
    """Wait (at most 10 s) until the timeline has ``n`` points: every worker has reported that far."""
    for _ in range(200):
        if len(engine.timeline.points) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {n} timeline points in 10 s")


async def engine_with_fleet(faults: FaultServer, tmp_path: Path, fault: str, duration: str) -> Engine:
    config = {
        "target": target(faults.url(fault)),
        "flow": {**TOOL_CALL, "think_time": "20ms"},
        "scenarios": {"steady": {"executor": "constant-vus", "vus": 4, "duration": duration}},
    }
    plan = plan_from(tmp_path, config)
    async with make_http(plan.connect.settings) as http:
        pre = await preflight(http, plan)
    assert pre.ok, pre.reason
    assert pre.target is not None
    fleet = Fleet(plan, pre.target, pre.offered, count=2, interval=0.5)
    return Engine(plan, fleet, Metrics(), ErrorLog(), interval=0.5)


async def test_a_killed_worker_costs_only_its_own_last_report(faults: FaultServer, tmp_path: Path) -> None:
    engine = await engine_with_fleet(faults, tmp_path, "ok-workers-kill", "3s")
    running = asyncio.create_task(engine.run())
    assert isinstance(engine.driver, Fleet)
    await points(engine, 2)  # both workers have reported twice
    victim = engine.driver.workers[0]
    victim.process.send_signal(signal.SIGKILL)  # as the OOM killer would
    outcome = await asyncio.wait_for(running, 20)
    assert not outcome.interrupted
    assert engine.metrics.counter_total("internal_errors") == 1
    ((reason, _, _),) = engine.errors.samples["internal_error"]
    assert "worker process 0 exited (code -9)" in reason
    # The survivor ran to the end, and the victim's reports before its death were kept.
    assert engine.timeline.points[-1].t >= 2.9
    assert (engine.metrics.counter_total("iterations") or 0) > 0
    assert sum(p.requests for p in engine.timeline.points) == engine.metrics.counter_total("http_reqs")
    assert victim.process.returncode == -signal.SIGKILL


async def test_an_interrupt_reaches_every_worker(faults: FaultServer, tmp_path: Path) -> None:
    engine = await engine_with_fleet(faults, tmp_path, "ok-workers-stop", "30s")
    running = asyncio.create_task(engine.run())
    await points(engine, 1)
    engine.interrupt(3.0)
    outcome = await asyncio.wait_for(running, 10)
    assert outcome.interrupted
    assert outcome.duration < 5
    assert isinstance(engine.driver, Fleet)
    assert engine.driver.workers == []  # every process has ended
    iterations = engine.metrics.counter_total("iterations") or 0
    # Every iteration in flight was given the grace to finish: each made all its requests.
    assert engine.metrics.counter_total("http_reqs") == STEPS_PER_ITERATION * iterations


async def test_a_bad_worker_count_is_one_line_naming_the_flag() -> None:
    for value in ("-1", "257"):
        code, out, err = await mcpgate("run", "--url", "http://127.0.0.1:1/mcp", "--workers", value)
        assert code == exitcodes.INVALID_INPUT
        assert err == "mcpgate: error: --workers: must be from 1 to 256 (or 0: one per available core)\n"
        assert out == ""
