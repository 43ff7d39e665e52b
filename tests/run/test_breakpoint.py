"""Breakpoint searches run for real, against an official-SDK server whose capacity is known.

tests/capacityserver.py serves its one tool through 2 slots of 200 ms each: at
most 10 calls per second. Below that every call takes 200 ms; above it calls
queue, and their latency grows for as long as the step lasts. A threshold at
twice the work time therefore holds below the capacity and breaks above it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpgate.app.preflight import preflight
from mcpgate.engine.local import LocalDriver
from mcpgate.engine.runner import Engine
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import Metrics
from mcpgate.protocol.http import make_http
from mcpgate.results.schema import Results
from mcpgate.support import exitcodes
from mcpgate.verdict.breakpoint import StepJudge, conclude
from mcpgate.workload.flow import Flow
from tests import servers
from tests.faultserver import FaultServer
from tests.run.helpers import TOOL_CALL, plan_from, run, target
from tests.test_cli_probe import mcpgate

CAPACITY = 10.0  # calls per second: 2 slots / 0.2 s
SERVER = Path(__file__).resolve().parents[1] / "capacityserver.py"


@pytest.fixture(scope="module")
def capacity() -> Iterator[str]:
    """The endpoint of a capacity server (2 slots x 200 ms), started for this module."""
    port = servers.free_port()
    command = [sys.executable, str(SERVER), "--port", str(port), "--slots", "2", "--work", "0.2"]
    with servers.running(command, port) as server:
        yield server.url("/mcp")


def search_keys(search: dict[str, Any]) -> dict[str, Any]:
    return {"profile": "breakpoint", "breakpoint": search}


def config(url: str, **search: Any) -> dict[str, Any]:
    return {
        "target": {"url": url},
        # tools/list only: the closed model's sums (2 VUs keep 2 slots busy) leave little time around the call
        "flow": {"tools": [{"name": "work_once"}], "think_time": "0s", "discover": "seed"},
        **search_keys(search),
        "thresholds": {"mcp_tool_duration": ["p(95)<400"]},  # twice the work: only a queue breaks it
    }


def summary_of(results: Results) -> str:
    assert results.breakpoint is not None
    return "; ".join(
        f"{s.level:g}: {'held' if s.held else 'broke'} p95={s.p95_tool_ms} it/s={s.throughput}"
        for s in results.breakpoint.steps
    )


async def test_a_search_finds_a_known_capacity_within_one_step(capacity: str, tmp_path: Path) -> None:
    step = 2.0
    search = {"start": 4, "step": step, "max": 16, "step_duration": "3s"}
    out = tmp_path / "results.json"
    results, summary = await run(plan_from(tmp_path, config(capacity, **search)), out=out, interval=1.0)
    bp = results.breakpoint
    assert bp is not None
    assert results.run.status == "passed", results.run.reason
    assert results.run.exit_code == exitcodes.OK
    assert bp.found, summary_of(results)
    assert bp.breaking_point is not None
    assert abs(bp.breaking_point - CAPACITY) <= step, summary_of(results)
    # The search stopped at the first step that broke: the one right above the breaking point.
    assert bp.breaking_step is not None
    assert bp.broken_step == bp.breaking_step + 1
    assert len(bp.steps) == bp.broken_step
    broken = bp.steps[-1]
    assert not broken.held
    assert broken.failures[0].kind == "threshold"
    assert broken.failures[0].what == "mcp_tool_duration p(95)<400"
    assert broken.p95_tool_ms is not None
    assert broken.p95_tool_ms >= 400
    assert all(s.held and s.p95_tool_ms is not None and s.p95_tool_ms < 400 for s in bp.steps[:-1])
    assert results.run.duration_s < 16 * 3  # it never climbed the whole ladder
    # Shown, and written: the summary's table marks the breaking point; the file has every step.
    assert f"BREAKPOINT  {bp.breaking_point:g} iterations/s" in summary
    assert "← breaking point" in summary
    saved = json.loads(out.read_text())
    assert [s["level"] for s in saved["breakpoint"]["steps"]] == [s.level for s in bp.steps]
    assert saved["breakpoint"]["breaking_point"] == bp.breaking_point


async def test_the_search_over_worker_processes_breaks_where_one_process_does(capacity: str, tmp_path: Path) -> None:
    search = {"start": 6, "step": 8, "max": 14, "step_duration": "3s"}  # well below, then well above
    results, _ = await run(plan_from(tmp_path, config(capacity, **search)), interval=1.0, workers=2)
    bp = results.breakpoint
    assert bp is not None
    assert results.run.workers == 2
    assert results.run.status == "passed", results.run.reason
    assert [s.held for s in bp.steps] == [True, False], summary_of(results)
    assert bp.headline == "6 iterations/s"
    held, broke = bp.steps
    assert held.duration_s == 3.0  # a whole number of worker reports: exactly the step
    # The held step's window has its iterations, no more: its rate is the level, not diluted or doubled.
    assert held.throughput == pytest.approx(6, abs=1)
    assert broke.p95_tool_ms is not None
    assert broke.p95_tool_ms >= 400


async def test_a_vu_search_breaks_where_the_slots_run_out(capacity: str, tmp_path: Path) -> None:
    # Closed model: n VUs share 2 slots, so a call waits about n / 2 x 200 ms.
    search = {"executor": "vus", "start": 2, "step": 4, "max": 6, "step_duration": "2s"}
    results, summary = await run(plan_from(tmp_path, config(capacity, **search)), interval=1.0)
    bp = results.breakpoint
    assert bp is not None
    assert results.run.status == "passed", results.run.reason
    assert [s.held for s in bp.steps] == [True, False], summary_of(results)
    assert bp.headline == "2 VUs"
    assert bp.breaking_point == 2
    assert bp.rate is not None
    assert bp.rate == pytest.approx(CAPACITY, abs=1.5)  # 2 VUs keep both slots busy
    assert "stepped VUs" in summary


async def test_a_capacity_gate_below_the_breaking_point_fails_the_run(capacity: str, tmp_path: Path) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(json.dumps(config(capacity, start=6, step=8, max=14, step_duration="2s")))
    out = tmp_path / "results.json"
    code, stdout, stderr = await asyncio.wait_for(
        mcpgate("run", "-c", str(path), "--min-breaking-point", "12", "--workers", "1", "--out", str(out)), 60
    )
    assert code == exitcodes.THRESHOLDS_FAILED, stdout + stderr
    saved = json.loads(out.read_text())
    assert saved["run"]["status"] == "failed"
    assert saved["run"]["reason"].startswith("breaking point 6 iterations/s is below the minimum 12 iterations/s")
    assert saved["breakpoint"]["gate_ok"] is False
    assert "gate      at least 12 iterations/s: FAILED" in stdout
    assert "breakpoint step 2/2: 14 iterations/s broke" in stderr  # each step, as it is judged


async def test_an_interrupted_search_keeps_the_steps_it_judged(faults: FaultServer, tmp_path: Path) -> None:
    search = search_keys({"start": 5, "step": 5, "max": 100, "step_duration": "1s"})
    plan = plan_from(tmp_path, {"target": target(faults.url("ok-breakpoint")), "flow": TOOL_CALL, **search})
    assert plan.breakpoint is not None
    async with make_http(plan.connect.settings) as http:
        pre = await preflight(http, plan)
        assert pre.ok, pre.reason
        assert pre.target is not None
        assert pre.mix is not None
        flow = Flow(http, pre.target, pre.mix, plan.config.flow)
        judge = StepJudge(plan.breakpoint, plan.thresholds)
        engine = Engine(plan, LocalDriver(plan, flow), Metrics(), ErrorLog(), interval=0.5, steps=judge)
        running = asyncio.create_task(engine.run())
        assert engine.search is not None
        for _ in range(200):  # at most 10 s for two steps to be judged
            if len(engine.search.steps) >= 2:
                break
            await asyncio.sleep(0.05)
        engine.interrupt(1.0)
        outcome = await asyncio.wait_for(running, 10)
    assert outcome.interrupted
    assert len(judge.steps) >= 2
    assert all(step.held for step in judge.steps)  # the step the stop cut off is not judged
    conclusion = conclude(plan.breakpoint, judge.steps)
    assert not conclusion.complete
    assert conclusion.headline == f"at least {judge.steps[-1].level:g} iterations/s"
    assert engine.metrics.window is None  # no sample is copied anywhere after the run
