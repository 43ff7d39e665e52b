"""The breakpoint search's configuration: the ``breakpoint:`` section, ``profile:``, and what the flags mean for it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mcpgate.config.assemble import Overrides, assemble
from mcpgate.doors.argv import relabeled
from mcpgate.plan.build import Plan, build_plan
from mcpgate.support.errors import UsageError

HEAD = "target: {url: http://127.0.0.1:1/mcp}\nprofile: breakpoint\n"


def plan_of(tmp_path: Path, text: str, flags: Overrides | None = None) -> Plan:
    path = tmp_path / "mcpgate.yaml"
    path.write_text(textwrap.dedent(text))
    return build_plan(assemble(path, flags or Overrides()))


def error_of(tmp_path: Path, text: str, flags: Overrides | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        plan_of(tmp_path, text, flags)
    message = str(relabeled(caught.value))  # an option named as the command line spells it
    assert "\n" not in message
    return message.replace(str(tmp_path / "mcpgate.yaml"), "FILE")


def test_the_profile_in_the_file_runs_a_search_with_its_defaults(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, HEAD)
    search = plan.breakpoint
    assert search is not None
    assert search.executor == "arrival"
    assert search.levels == tuple(float(x) for x in range(10, 201, 10))
    assert search.step_duration == 30.0
    assert (search.max_error_rate, search.max_dropped_rate) == (0.01, 0.0)
    assert (search.pre_allocated_vus, search.max_vus) == (10, 2000)
    (scenario,) = plan.scenarios
    assert scenario.name == "breakpoint"
    assert scenario.executor == "ramping-arrival-rate"
    assert scenario.duration == 20 * 30.0
    assert scenario.describe() == (
        "stepped arrival rate, 10 to 200 iterations/s, +10 every 30s (20 steps), up to 2,000 VUs"
    )
    # The profile's thresholds, as for every profile, when the file sets none.
    assert {str(t.key) for t in plan.thresholds} == {"mcp_tool_duration", "mcp_init_duration", "mcp_discover_duration"}
    assert "the breakpoint profile's thresholds apply (the config sets none)" in plan.notes


def test_the_flag_chooses_the_search_and_the_file_sets_its_steps(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        target: {url: http://127.0.0.1:1/mcp}
        breakpoint: {executor: vus, start: 5, step: 5, max: 50, step_duration: 1m, max_error_rate: 2%}
        thresholds: {http_req_duration: ["p(95)<800"]}
    """)
    plan = plan_of(tmp_path, text, Overrides(profile="breakpoint"))
    search = plan.breakpoint
    assert search is not None
    assert search.levels == tuple(float(x) for x in range(5, 51, 5))
    assert search.max_error_rate == 0.02
    (scenario,) = plan.scenarios
    assert scenario.executor == "ramping-vus"
    assert scenario.steps[:3] == ((0.0, 5), (60.0, 10), (120.0, 15))
    assert scenario.max_vus == 50
    assert [str(t.key) for t in plan.thresholds] == ["http_req_duration"]  # the file's own
    # Without the profile the section waits: the file's other uses are unaffected.
    assert plan_of(tmp_path, text + "scenarios: {a: {executor: constant-vus, duration: 1s}}\n").breakpoint is None


def test_vus_caps_the_vus_serving_a_rate_and_is_the_top_of_a_vu_search(tmp_path: Path) -> None:
    arrival = plan_of(tmp_path, HEAD + "breakpoint: {pre_allocated_vus: 80}\n", Overrides(vus=50))
    assert arrival.breakpoint is not None
    assert (arrival.breakpoint.pre_allocated_vus, arrival.breakpoint.max_vus) == (50, 50)
    assert arrival.breakpoint.levels[-1] == 200  # the rates are the search's own
    vus = plan_of(tmp_path, HEAD + "breakpoint: {executor: vus, start: 10, step: 10, max: 200}\n", Overrides(vus=45))
    assert vus.breakpoint is not None
    assert vus.breakpoint.levels == (10, 20, 30, 40, 45)


def test_duration_shares_the_total_time_among_the_steps(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, HEAD + "breakpoint: {start: 10, step: 10, max: 100}\n", Overrides(duration=300.0))
    assert plan.breakpoint is not None
    assert plan.breakpoint.step_duration == 30.0
    assert plan.duration == 300.0


def test_the_example_search_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "breakpoint.yaml"
    plan = build_plan(assemble(example, Overrides(duration=120.0)))
    assert plan.breakpoint is not None
    assert plan.breakpoint.levels == tuple(float(x) for x in range(10, 101, 10))
    assert plan.breakpoint.step_duration == 12.0


def test_min_breaking_point_from_the_flag(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, HEAD, Overrides(min_breaking_point=120))
    assert plan.breakpoint is not None
    assert plan.breakpoint.min_breaking_point == 120


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("{executor: open}", "FILE:3: breakpoint.executor: expected 'arrival' or 'vus', got 'open'"),
        ("{start: 0}", "FILE:3: breakpoint.start: must be > 0.0, got 0"),
        ("{step: -5}", "FILE:3: breakpoint.step: must be > 0.0, got -5"),
        ("{start: 50, max: 20}", "FILE:3: breakpoint: max (20) is below start (50)"),
        ("{step_duration: 500ms}", "FILE:3: breakpoint: step_duration must be at least 1s, got 500ms"),
        ("{step_duration: soon}", "FILE:3: breakpoint.step_duration: expected a duration like 500ms, 30s, 2m or 1h30m"),
        ("{start: 1, step: 0.01, max: 100}", "FILE:3: breakpoint: 1 to 100 in steps of 0.01 is 9901 steps (at most"),
        (
            "{start: 1.0e-300, step: 1.0e-300, max: 1.0e+308}",
            "FILE:3: breakpoint: 1e-300 to 1e+308 in steps of 1e-300 is too",
        ),
        ("{max_error_rate: 150%}", "FILE:3: breakpoint.max_error_rate: must be <= 1, got '150%'"),
        ("{max_error_rate: lots}", "FILE:3: breakpoint.max_error_rate: expected a number, got 'lots'"),
        ("{executor: vus, step: 2.5}", "FILE:3: breakpoint: step is a VU count with executor: vus: a whole number"),
        ("{executor: vus, max_vus: 10}", "FILE:3: breakpoint: max_vus only applies to executor: arrival"),
        ("{max_vus: 5, pre_allocated_vus: 10}", "FILE:3: breakpoint: max_vus (5) is below pre_allocated_vus (10)"),
        ("{min_breaking_point: 500}", "FILE:3: breakpoint: min_breaking_point (500) is above max (200): the search"),
        ("{stepp: 5}", "FILE:3: breakpoint: unknown key 'stepp' (did you mean 'step'?)"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_field(tmp_path: Path, section: str, expected: str) -> None:
    assert error_of(tmp_path, HEAD + f"breakpoint: {section}\n").startswith(expected)


@pytest.mark.parametrize(
    ("text", "flags", "expected"),
    [
        (HEAD + "breakpoint: {executor: vus, start: 20}\n", Overrides(vus=10), "--vus: 10 is below breakpoint.start"),
        (HEAD, Overrides(duration=10.0), "--duration: the search's 20 steps need at least 20s (1s each)"),
        (
            "target: {url: http://127.0.0.1:1/mcp}\n",
            Overrides(profile="load", min_breaking_point=5),
            "--min-breaking-point: only applies to the breakpoint profile",
        ),
        (
            "target: {url: http://127.0.0.1:1/mcp}\nprofile: soak\nscenarios: {a: {executor: constant-vus, vus: 1}}\n",
            None,
            "FILE:2: profile: the file has scenarios too; a profile brings its own, so keep one",
        ),
        ("target: {url: http://127.0.0.1:1/mcp}\nprofile: stress\n", None, "FILE:2: profile: unknown profile 'stress'"),
    ],
)
def test_flags_and_profiles_that_cannot_apply_are_one_line_naming_them(
    tmp_path: Path, text: str, flags: Overrides | None, expected: str
) -> None:
    assert error_of(tmp_path, text, flags).startswith(expected)


def test_too_many_iterations_for_a_float_is_an_error_not_an_overflow(tmp_path: Path) -> None:
    huge = HEAD + "breakpoint: {start: 1.0e+307, step: 1.0e+307, max: 1.7e+308}\n"
    assert error_of(tmp_path, huge) == "FILE:3: breakpoint: too many iterations to schedule"
    ramp = "{executor: ramping-arrival-rate, preAllocatedVUs: 1, stages: [{duration: 1h, target: 1.0e+307}]}"
    scenario = f"target: {{url: http://127.0.0.1:1/mcp}}\nscenarios:\n  a: {ramp}\n"
    assert error_of(tmp_path, scenario) == "FILE:3: scenarios.a: too many iterations to schedule"  # was OverflowError
