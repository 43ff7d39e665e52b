"""Where a setting comes from when several sources give one: a profile, the config file, a flag, the environment."""

from __future__ import annotations

from pathlib import Path

from mcpgate.config.assemble import Overrides
from mcpgate.support import exitcodes
from tests.faultserver import FaultServer
from tests.run.helpers import plan_from, run, target


async def test_a_cli_threshold_adds_to_the_profiles_thresholds(faults: FaultServer, tmp_path: Path) -> None:
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
