"""A breakpoint search in every report: the console summary, the job summary, JUnit, the action's outputs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from mcpgate.config.models import BreakpointConfig
from mcpgate.config.thresholds import parse_threshold
from mcpgate.doors.outputs import breakpoint_outputs
from mcpgate.metrics.registry import Metrics, tags_of
from mcpgate.plan.breakpoint import plan_breakpoint
from mcpgate.report.console import render_summary
from mcpgate.report.junit import render_junit
from mcpgate.report.markdown import render_markdown
from mcpgate.results.io import read, write
from mcpgate.results.schema import Results
from mcpgate.support.redact import Redactor
from mcpgate.verdict.breakpoint import StepResult, breakpoint_section, judge_step
from tests.report.test_markdown import cells, section

DATA = Path(__file__).resolve().parent.parent / "data"
ODD = parse_threshold("mcp_tool_duration{tool:a|b*}", "p(95)<100")  # a tool name Markdown must not read


def window(p95: float, requests: int = 200, failed: int = 0) -> Metrics:
    metrics = Metrics()
    for i in range(requests):
        ms = p95 if i >= requests * 0.9 else p95 / 4
        metrics.trend("http_req_duration").add(ms)
        metrics.trend("mcp_tool_duration", tags_of(tool="a|b*")).add(ms)
        metrics.counter("http_reqs").add()
        metrics.counter("iterations").add(0.5)
        metrics.rate("http_req_failed").add(i < failed)
        metrics.rate("checks").add(i >= failed)
    return metrics


def results_with(p95s: Sequence[float], *, failed_last: int = 0, **search: object) -> Results:
    """The passing fixture run, as if it had been this search: a step per p95, judged on ``ODD``."""
    config = BreakpointConfig.model_validate({"start": 10, "step": 10, "max": 500, "step_duration": "10s", **search})
    plan = plan_breakpoint(config)
    steps: list[StepResult] = []
    for index, p95 in enumerate(p95s):
        failed = failed_last if index == len(p95s) - 1 else 0
        result = judge_step(plan, index, window(p95, failed=failed), [ODD], 10.0)
        steps.append(result)
        if not result.held:
            break
    base = read(DATA / "results-passed.json")
    return base.model_copy(update={"breakpoint": breakpoint_section(plan, steps, None, Redactor())})


def step_rows(text: str) -> list[str]:
    """The console's step rows: the BREAKPOINT section's lines that start with a mark."""
    part = text[text.index("  BREAKPOINT") : text.index("  THRESHOLDS")]
    return [line for line in part.splitlines() if line.startswith(("    ✓", "    ✗"))]


def test_the_console_shows_where_it_broke_and_every_step() -> None:
    results = results_with([20, 40, 60, 300], failed_last=10)
    text = render_summary(results)
    assert "  BREAKPOINT  30 iterations/s (step 3 of 50)\n" in text
    assert "    broke at  40 iterations/s: mcp_tool_duration{tool:a|b*} p(95)<100 failed: p(95)=300ms\n" in text
    assert "              failed requests (http_req_failed) 5.00%, more than the limit 1.00%\n" in text
    rows = step_rows(text)
    assert [row.split()[1] for row in rows] == ["1", "2", "3", "4"]
    assert rows[2].endswith("← breaking point")
    assert rows[3].startswith("    ✗    4  40/s")
    assert "← breaking point" not in rows[3]


def test_the_job_summary_has_a_step_table_with_the_break_marked() -> None:
    results = results_with([20, 40, 60, 300])
    text = render_markdown(results)
    part = section(text, "### Breakpoint: 30 iterations/s")
    assert "- **Held 30 iterations/s** (step 3): 10.0 iterations/s, 20.0 req/s, p95 60.0ms" in part
    assert "- **Broke at 40 iterations/s** (step 4): mcp_tool_duration{tool:a\\|b\\*} p(95)<100 failed" in part
    rows = [line for line in part.splitlines() if line.startswith("| ✓") or line.startswith("| ✗")]
    assert len(rows) == 4
    assert all(len(cells(row)) == 9 for row in rows)
    assert cells(rows[2])[2] == "**30 iterations/s** ← breaking point"
    assert cells(rows[3])[0] == "✗"
    # The thresholds shown are the breaking point's, judged on that step alone.
    assert "(shown below for step 3, 30 iterations/s)" in part


def test_a_long_search_shows_the_steps_nearest_the_break() -> None:
    results = results_with([20] * 44 + [300])
    console = render_summary(results)
    assert "    (5 earlier steps held; the results file has them)" in console
    assert len(step_rows(console)) == 40
    part = section(render_markdown(results), "### Breakpoint")
    assert "| | … | 15 earlier steps held |" in part
    assert sum(1 for line in part.splitlines() if line.startswith(("| ✓", "| ✗"))) == 30


def test_every_step_held_and_the_gate() -> None:
    results = results_with([20, 30, 40], max=30, min_breaking_point=30)
    search = results.breakpoint
    assert search is not None
    assert search.headline == "not reached up to 30 iterations/s"
    assert search.gate_ok is True
    text = render_summary(results)
    assert "  BREAKPOINT  not reached up to 30 iterations/s (step 3 of 3)" in text
    assert "    gate      at least 30 iterations/s: passed" in text
    assert "- Every step held." in render_markdown(results)


def test_saved_and_read_back_it_renders_the_same(tmp_path: Path) -> None:
    results = results_with([20, 300])
    path = tmp_path / "results.json"
    write(results, path)
    again = read(path)
    assert again.breakpoint == results.breakpoint
    assert render_summary(again) == render_summary(results)
    assert render_markdown(again) == render_markdown(results)


def test_junit_has_a_breakpoint_case_failing_on_the_gate() -> None:
    held = ET.fromstring(render_junit(results_with([20, 300], min_breaking_point=10)).split("\n", 1)[1])
    (case,) = [c for c in held.iter("testcase") if c.get("classname") == "breakpoint"]
    assert case.get("name") == "breaking point >= 10 iterations/s"
    assert case.find("failure") is None
    below = ET.fromstring(render_junit(results_with([20, 300], min_breaking_point=20)).split("\n", 1)[1])
    (case,) = [c for c in below.iter("testcase") if c.get("classname") == "breakpoint"]
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("breaking point 10 iterations/s is below the minimum 20 iterations/s")


def test_the_action_outputs_a_short_value_and_the_numbers() -> None:
    assert breakpoint_outputs(results_with([20, 40, 300])) == {
        "breaking-point": "20 iterations/s",
        "breaking-point-rate": "20",
        "breaking-point-vus": "",
    }
    assert breakpoint_outputs(results_with([300]))["breaking-point"] == "below 10 iterations/s"
    assert breakpoint_outputs(results_with([300]))["breaking-point-rate"] == "0"
    vus = breakpoint_outputs(results_with([20, 300], executor="vus", start=4, step=4, max=40))
    assert vus["breaking-point"] == "4 VUs"
    assert vus["breaking-point-vus"] == "4"
    assert vus["breaking-point-rate"] == "10"  # the throughput measured at 4 VUs: 100 iterations in 10 s
    assert breakpoint_outputs(read(DATA / "results-passed.json")) == {}
