"""SIGINT and SIGTERM, at any moment of ``mcpgate run``: the run stops in time, exits 105 and keeps its results."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

from mcpgate.support import exitcodes
from tests.conftest import PeerFactory, Spawn
from tests.faultserver import FaultServer


async def test_sigterm_stops_the_run_and_keeps_its_results(peer: PeerFactory, spawn: Spawn, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    load = ("--profile", "smoke", "--duration", "60s", "--vus", "5")
    proc = await spawn("run", "--url", peer("stateful-json"), *load, "--out", str(out), "--no-progress")
    await asyncio.sleep(3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert time.monotonic() - sent < 5
    assert proc.returncode == exitcodes.INTERRUPTED
    results = json.loads(out.read_text())
    assert results["run"]["status"] == "interrupted"
    assert results["metrics"]["iterations"]["values"]["count"] > 0
    assert stdout.decode().startswith("mcpgate: INTERRUPTED (exit 105)")


async def test_a_signal_during_the_preflight_exits_105(faults: FaultServer, spawn: Spawn, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    pinned = ("--transport", "streamable-http", "--protocol-version", "2025-11-25")
    args = ("run", "--url", faults.url("stall-init"), "--timeout", "20s", *pinned)
    proc = await spawn(*args, "--out", str(out), "--no-progress")
    await asyncio.sleep(1.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.communicate(), 10)
    assert time.monotonic() - sent < 3
    assert proc.returncode == exitcodes.INTERRUPTED
    assert '"status": "interrupted"' in out.read_text()


async def test_a_second_signal_stops_at_once_without_inventing_errors(
    faults: FaultServer, spawn: Spawn, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"target: {{url: '{faults.url('slower-call')}', transport: streamable-http, protocol_version: '2025-11-25'}}\n"
        "flow: {tools: [{name: echo}]}\n"
        "scenarios: {s: {executor: constant-vus, vus: 5, duration: 60s}}\n"
    )
    proc = await spawn("run", "-c", str(config), "--out", str(out), "--no-progress")
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
