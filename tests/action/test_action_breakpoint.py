"""The action running a breakpoint search: its inputs, outputs, annotation and job summary."""

from __future__ import annotations

from pathlib import Path

from mcpgate.support import exitcodes
from tests.action.test_action import SECRET, action, base
from tests.conftest import PeerFactory


def search_inputs(url: str, steps: str) -> dict[str, str]:
    inputs = {**base(url), "INPUT_PROFILE": "breakpoint", "INPUT_BREAKPOINT": steps}
    del inputs["INPUT_DURATION"], inputs["INPUT_VUS"]
    return inputs


async def test_a_search_sets_the_breaking_point_outputs(peer: PeerFactory, tmp_path: Path) -> None:
    steps = "start: 2\nstep: 2\nmax: 4\nstep_duration: 1s"
    inputs = {
        **search_inputs(peer("stateful-json"), steps),
        "INPUT_THRESHOLDS": "mcp_tool_duration: p(95)<5000",
        "INPUT_MIN-BREAKING-POINT": "2",
    }
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    assert run.outputs["passed"] == "true"
    assert run.outputs["breaking-point"] == "not reached up to 4 iterations/s"
    assert run.outputs["breaking-point-rate"] == "4"
    assert run.outputs["breaking-point-vus"] == ""
    assert "::notice title=mcpgate%3A breaking point not reached up to 4 iterations/s::" in run.stdout
    assert "### Breakpoint: not reached up to 4 iterations/s" in run.summary
    assert "- Capacity gate, at least 2 iterations/s: **passed**." in run.summary
    assert SECRET not in run.artefacts()


async def test_bad_search_inputs_are_one_line_naming_the_input(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/mcp"  # never reached: the inputs fail first
    cases = [
        ({"INPUT_BREAKPOINT": "step: -1"}, "breakpoint: step: must be > 0.0, got -1"),
        ({"INPUT_BREAKPOINT": "just words"}, "breakpoint: expected 'key: value' lines"),
        ({"INPUT_BREAKPOINT": "max: 4"}, "breakpoint: max (4) is below start (10)"),
        ({"INPUT_BREAKPOINT": "{start: 2, max: 4}", "INPUT_MIN-BREAKING-POINT": "5"}, "(5) is above max (4)"),
        ({"INPUT_MIN-BREAKING-POINT": "lots"}, "min-breaking-point: expected a number like 100, got 'lots'"),
        ({"INPUT_PROFILE": "load", "INPUT_BREAKPOINT": "max: 40"}, "breakpoint: only applies to the breakpoint"),
    ]
    for extra, message in cases:
        run = await action(tmp_path, {**search_inputs(url, ""), **extra})
        assert run.code == exitcodes.INVALID_INPUT, (extra, run.stdout)
        errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
        assert len(errors) == 1, run.stdout
        assert message in errors[0], (extra, errors[0])
        assert run.outputs["exit-code"] == str(exitcodes.INVALID_INPUT)
