"""What the engine must get right under recovery, overlap, bugs and odd configs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mcpgate.config.assemble import Overrides
from mcpgate.support import exitcodes
from mcpgate.workload.flow import Flow
from tests.faultserver import FaultServer
from tests.run.helpers import TOOL_CALL, count, plan_from, run, target
from tests.test_cli_probe import mcpgate


def calls_seen(faults: FaultServer, fault: str, since: int = 0) -> list[dict[str, Any]]:
    return [m["params"]["arguments"] for m in faults.seen[fault][since:] if m.get("method") == "tools/call"]


async def test_a_recovered_call_is_not_a_failed_call(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("expire-call")),
        "flow": {**TOOL_CALL, "think_time": "20ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.6s"}},
        "thresholds": {"mcp_tool_errors": ["rate<0.01"]},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.OK, results.run.reason
    iterations = count(results, "iterations")
    assert iterations >= 3
    reinits = count(results, "mcp_session_reinit")  # every other session dies (the preflight's among them)
    assert reinits in (iterations - 1, iterations)
    assert results.metric("mcp_tool_duration", "count") == iterations  # one logical call each
    assert results.metric("mcp_tool_errors", "rate") == 0
    # Both HTTP requests of a recovered call were sent and count as requests; the 404 one failed.
    assert count(results, "http_reqs{method:tools/call}") == iterations + reinits
    assert results.metric("http_req_failed{method:tools/call}", "passes") == reinits


async def test_requests_never_sent_are_not_counted(faults: FaultServer, tmp_path: Path) -> None:
    before = faults.counts["expire-for-good:calls"]
    config = {
        "target": target(faults.url("expire-for-good")),
        "flow": {**TOOL_CALL, "think_time": "20ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.5s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    sent = faults.counts["expire-for-good:calls"] - before
    assert count(results, "http_reqs{method:tools/call}") == sent
    assert results.metric("mcp_tool_errors", "rate") == 1.0
    fastest = results.metric("mcp_tool_duration", "min")
    assert fastest is None or fastest > 0  # no 0 ms samples from requests that never left


async def test_timeouts_after_headers_are_failed_http_requests(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": {**target(faults.url("stall-body")), "timeout": "300ms"},
        "flow": TOOL_CALL,
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.5s"}},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.metric("http_req_failed{method:tools/call}", "rate") == 1.0
    assert count(results, "mcp_errors_timeout") >= 1


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


async def test_a_bug_inside_a_vu_is_reported_not_swallowed(
    faults: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Flow.iteration
    calls = {"n": 0}

    async def flaky(self: Flow, vu: Any, rec: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated bug")
        await original(self, vu, rec)

    monkeypatch.setattr(Flow, "iteration", flaky)
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "20ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "1.5s"}},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert count(results, "internal_errors") == 1
    assert count(results, "iterations") >= 3  # the VU went on after the bug
    internal = [e for e in results.errors if e.kind == "internal_error"]
    assert internal
    assert internal[0].samples[0].reason == "RuntimeError: simulated bug"
    assert "internal_error" in text


async def test_error_counters_exist_on_a_clean_run(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "50ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.3s"}},
        "thresholds": {"mcp_errors_timeout": ["count<1"], "mcp_errors_protocol_error": ["count<1"]},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.OK, results.run.reason


async def test_cli_threshold_adds_to_the_profile_s(faults: FaultServer, tmp_path: Path) -> None:
    plan = plan_from(
        tmp_path,
        {"target": target(faults.url("ok"))},
        Overrides(profile="smoke", duration=0.3, thresholds=("mcp_tool_duration=p(95)<5000",)),
    )
    assert {str(t.key) for t in plan.thresholds} == {"http_req_failed", "mcp_init_errors", "mcp_tool_duration"}


async def test_the_config_token_beats_the_environment(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": {**target(faults.url("unauthorized")), "bearer_token": "let-me-in-0123"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.2s"}},
    }
    plan = plan_from(tmp_path, config, Overrides(env_token="from-the-environment"))
    results, _ = await run(plan)
    assert results.run.exit_code == exitcodes.OK, results.run.reason


async def test_same_seed_same_arguments_in_another_process(faults: FaultServer, tmp_path: Path) -> None:
    config = tmp_path / "seeded.yaml"
    config.write_text(
        f"target: {{url: '{faults.url('seeded')}', transport: streamable-http, protocol_version: '2025-11-25'}}\n"
        "flow:\n  tools: [{name: echo, arguments: {text: '{{ randint(0, 1000000) }}'}}]\n"
        "scenarios: {s: {executor: constant-arrival-rate, rate: 10, duration: 1s, preAllocatedVUs: 1, maxVUs: 1}}\n"
    )
    runs = []
    for _ in range(2):
        before = len(faults.seen["seeded"])
        code, out, err = await mcpgate("run", "-c", str(config), "--seed", "7", "--no-progress")
        assert code == exitcodes.OK, out + err
        runs.append([a["text"] for a in calls_seen(faults, "seeded", before)])
    assert runs[0][:5] == runs[1][:5]
    assert len(set(runs[0])) > 1


async def test_a_signal_during_the_preflight_exits_105(faults: FaultServer, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpgate",
        "run",
        "--url",
        faults.url("stall-init"),
        "--timeout",
        "20s",
        "--transport",
        "streamable-http",
        "--protocol-version",
        "2025-11-25",
        "--out",
        str(out),
        "--no-progress",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ.copy(),
    )
    await asyncio.sleep(1.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.communicate(), 10)
    assert time.monotonic() - sent < 3
    assert proc.returncode == exitcodes.INTERRUPTED
    assert '"status": "interrupted"' in out.read_text()


async def test_out_that_cannot_be_written_is_refused_before_the_load(tmp_path: Path) -> None:
    code, _, err = await mcpgate("run", "--url", "http://127.0.0.1:1/mcp", "--out", str(tmp_path))
    assert code == exitcodes.INVALID_INPUT
    assert err == f"mcpgate: error: --out: {tmp_path} is a directory\n"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"executor": "ramping-vus", "stages": [{"duration": "1s", "target": 2.5}]}, "a whole number, not 2.5"),
        (
            {"executor": "constant-arrival-rate", "rate": 1, "duration": "1s", "preAllocatedVUs": 5, "maxVUs": 2},
            "max_vus (2) is below pre_allocated_vus (5)",
        ),
        ({"executor": "constant-vus", "duration": "0s"}, "duration must be more than 0"),
        (
            {
                "executor": "ramping-arrival-rate",
                "timeUnit": "0s",
                "stages": [{"duration": "1s", "target": 1}],
                "preAllocatedVUs": 1,
            },
            "time_unit must be more than 0",
        ),
    ],
)
async def test_impossible_scenarios_are_invalid(tmp_path: Path, scenario: dict[str, Any], message: str) -> None:
    import yaml

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"target": {"url": "http://127.0.0.1:1/mcp"}, "scenarios": {"x": scenario}}))
    code, _, err = await mcpgate("validate", str(config))
    assert code == exitcodes.INVALID_INPUT
    assert message in err
    assert err.count("\n") == 1


async def test_template_syntax_and_unknown_scenarios_fail_validate(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "target: {url: 'http://127.0.0.1:1/mcp'}\nflow: {tools: [{name: t, arguments: {q: '{{ unclosed'}}]}\n"
    )
    code, _, err = await mcpgate("validate", str(config))
    assert code == exitcodes.INVALID_INPUT
    assert "flow.tools[0].arguments" in err
    config.write_text(
        "target: {url: 'http://127.0.0.1:1/mcp'}\n"
        "scenarios: {a: {executor: constant-vus, duration: 1s}}\n"
        "thresholds: {'iterations{scenario:b}': ['count>0']}\n"
    )
    code, _, err = await mcpgate("validate", str(config))
    assert code == exitcodes.INVALID_INPUT
    assert "iterations{scenario:b}: no scenario 'b'" in err


async def test_a_second_signal_stops_at_once_without_inventing_errors(faults: FaultServer, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"target: {{url: '{faults.url('slower-call')}', transport: streamable-http, protocol_version: '2025-11-25'}}\n"
        "flow: {tools: [{name: echo}]}\n"
        "scenarios: {s: {executor: constant-vus, vus: 5, duration: 60s}}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpgate",
        "run",
        "-c",
        str(config),
        "--out",
        str(out),
        "--no-progress",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ.copy(),
    )
    await asyncio.sleep(2.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 10)
    assert time.monotonic() - sent < 1.5
    assert proc.returncode == exitcodes.INTERRUPTED, stdout.decode() + stderr.decode()
    results = json.loads(out.read_text())
    assert results["run"]["status"] == "interrupted"
    # Every VU was inside its first 5 s call: the second signal interrupted all five, and said so.
    assert results["run"]["interrupted_iterations"] == 5
    assert results["metrics"]["iterations"]["values"]["count"] == 0
    # Closing the connection pool under running VUs would have shown up as connection errors.
    assert results["metrics"]["mcp_errors_connection_error"]["values"]["count"] == 0
