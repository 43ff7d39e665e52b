"""Drift flags a server that slows over time, and passes one that does not: real runs, real SDK servers."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from mcpgate.app.run import RunOptions, run_plan
from mcpgate.config.assemble import Overrides
from mcpgate.results.io import read
from mcpgate.support import exitcodes
from tests import servers
from tests.run.helpers import config_file, plan_from, run_cli
from tests.test_cli_probe import mcpgate

WINDOW = "4s"


def config(url: str) -> dict[str, Any]:
    """A constant arrival rate for 12 s, half lookups and half pings: about 60 calls of each per 4 s window.

    The mix is a random choice per call, so a window's count of one tool spreads around that (a
    standard deviation of about 5.5); 60 keeps it well clear of the 30 a window needs to be judged.
    """
    return {
        "target": {"url": url, "timeout": "5s"},
        "flow": {
            "tools": [
                {"name": "lookup", "arguments": {"key": "k{{ iteration }}"}},
                {"name": "ping", "arguments": {}},
            ]
        },
        "scenarios": {
            "soak": {
                "executor": "constant-arrival-rate",
                "rate": 30,
                "duration": "12s",
                "pre_allocated_vus": 10,
                "max_vus": 40,
            }
        },
    }


async def test_drift_flags_a_server_that_slows_over_time(tmp_path: Path) -> None:
    md, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    # lookup: 2 ms + 3 ms for every second served; about 10 ms in the first window, 35 ms in the last.
    with servers.serving(lambda port: servers.drift_cmd(port, slope_ms=3.0)) as server:
        path = config_file(tmp_path / "mcpgate.yaml", config(server.url("/mcp")))
        args = ("-c", str(path), "--drift-window", WINDOW, "--markdown", str(md), "--junit", str(junit))
        code, text, err, out = await run_cli(tmp_path, *args)
    assert code == exitcodes.THRESHOLDS_FAILED, text + err
    first_line = text.splitlines()[0]
    assert first_line.startswith("mcpgate: FAILED (exit 99): drift: mcp_tool_duration{tool:lookup}")
    assert "limit 20%) from the first to the last 4s of steady load" in first_line
    results = read(out)
    assert (results.run.status, results.run.exit_code) == ("failed", exitcodes.THRESHOLDS_FAILED)
    report = results.drift
    assert report is not None
    assert report.judged
    assert report.window_s == 4.0
    assert report.steady is not None
    assert (report.steady.start, report.steady.end, report.steady.load) == (0.0, 12.0, "soak at 30 iterations/s")
    rows = {r.metric: r for r in report.rows}
    lookup = rows["mcp_tool_duration{tool:lookup}"]
    assert lookup.judged
    assert lookup.drifted
    assert lookup.first is not None
    assert lookup.last is not None
    assert lookup.last - lookup.first > 15  # 3 ms/s over the 8 s between the windows' middles: about 24 ms
    ping = rows["mcp_tool_duration{tool:ping}"]
    assert ping.judged  # measured in the same windows, and it did not slow down
    assert not ping.drifted
    assert "DRIFT (" in text
    assert "✗ mcp_tool_duration{tool:lookup} p(95)" in text
    assert "### Drift: " in md.read_text()
    assert 'classname="drift" name="mcp_tool_duration{tool:lookup} p(95)"' in junit.read_text()
    # The saved run judged again: reported only, it passes; with the same window, it fails again.
    code, text, _ = await mcpgate("drift", str(out), "--drift-window", WINDOW, "--max-drift", "off", "--format", "json")
    assert code == exitcodes.OK
    assert json.loads(text)["worst_p95_change"] > 0.2
    code, _, _ = await mcpgate("drift", str(out), "--drift-window", WINDOW)
    assert code == exitcodes.THRESHOLDS_FAILED


async def test_the_same_run_against_a_steady_server_passes(tmp_path: Path) -> None:
    with servers.serving(lambda port: servers.drift_cmd(port, slope_ms=0.0)) as server:
        plan = plan_from(tmp_path, config(server.url("/mcp")), Overrides())
        options = RunOptions(progress=False, drift_window=4.0)
        results = await run_plan(plan, options, out=io.StringIO(), err=io.StringIO())
    assert (results.run.status, results.run.exit_code) == ("passed", exitcodes.OK), results.run.reason
    report = results.drift
    assert report is not None
    assert report.judged
    assert report.ok
    assert {r.metric for r in report.rows} == {
        "http_req_duration",
        "mcp_tool_duration{tool:lookup}",
        "mcp_tool_duration{tool:ping}",
        "http_req_failed",
    }
    assert all(r.judged and not r.drifted for r in report.rows), report.rows
