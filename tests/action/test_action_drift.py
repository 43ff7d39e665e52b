"""Drift through the action: its inputs, its output, its annotation, its job summary section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mcpgate.support import exitcodes
from tests import servers
from tests.action.test_action import SECRET, action


async def test_drift_fails_the_step_names_the_tool_and_sets_the_output(tmp_path: Path) -> None:
    port = servers.free_port()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    scenario = {"executor": "constant-arrival-rate", "rate": 25, "duration": "6s", "pre_allocated_vus": 5}
    config = {"flow": {"tools": [{"name": "lookup", "arguments": {"key": "k"}}]}, "scenarios": {"soak": scenario}}
    (workspace / "mcpgate.yaml").write_text(yaml.safe_dump(config))
    # lookup: 2 ms + 5 ms for every second served: about 10 ms in the first 2 s, 30 ms in the last.
    with servers.running(servers.drift_cmd(port, slope_ms=5.0), port) as server:
        inputs = {
            "INPUT_URL": server.url("/mcp"),
            "INPUT_CONFIG": "mcpgate.yaml",
            "INPUT_BEARER-TOKEN": SECRET,
            "INPUT_MAX-DRIFT": "30%",
            "INPUT_DRIFT-WINDOW": "2s",
        }
        run = await action(tmp_path, inputs)
    assert run.code == exitcodes.THRESHOLDS_FAILED, run.stdout + run.stderr
    assert run.outputs["passed"] == "false"
    assert float(run.outputs["drift"]) > 30  # the worst p95 change, in percent
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error ")]
    drifted = [line for line in errors if line.startswith("::error title=mcpgate%3A drift over the steady load::")]
    assert len(drifted) == 1, errors
    assert "drift: mcp_tool_duration{tool:lookup} p(95) rose " in drifted[0]
    assert "limit 30%25) from the first to the last 2s of steady load" in drifted[0]  # % escaped as the runner wants
    assert "### Drift: " in run.summary
    assert SECRET not in run.artefacts()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"INPUT_MAX-DRIFT": "lots"}, "max-drift: expected a percentage like 20%, 0.2 or off, got 'lots'"),
        ({"INPUT_MAX-DRIFT": "-5%"}, "max-drift: expected a percentage between 0% and 1000%"),
        ({"INPUT_DRIFT-WINDOW": "0s"}, "drift-window: must be more than 0"),
        ({"INPUT_DRIFT_WINDOW": "soon"}, "drift-window: expected a duration"),
        ({"INPUT_MAX-DRIFT": "20%\noff"}, "max-drift: must be one line"),
    ],
)
async def test_bad_drift_inputs_are_one_error_and_exit_104(
    tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    run = await action(tmp_path, {"INPUT_URL": "http://127.0.0.1:1/mcp", **inputs})
    assert run.code == exitcodes.INVALID_INPUT
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, run.stdout
    assert message in errors[0].replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
    assert run.outputs["exit-code"] == "104"
