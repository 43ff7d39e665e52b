"""The drift section in every report: the console summary, the job summary, JUnit, and ``mcpgate drift``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mcpgate.report.console import render_summary
from mcpgate.report.junit import render_junit
from mcpgate.report.markdown import render_markdown
from mcpgate.results.io import read, write
from mcpgate.results.schema import Drift, DriftRow, DriftWindow, Results, SteadyLoad
from mcpgate.support import exitcodes
from mcpgate.verdict.drift import MIN_SAMPLES, with_drift
from tests.report.test_markdown import cells, load, section
from tests.test_cli_probe import mcpgate
from tests.test_drift import flat, growing, steady, timeline

STEADY = SteadyLoad(start=120.0, end=7200.0, load="soak at 10 VUs")


def drift_row(metric: str, stat: str, first: float, last: float, **kw: object) -> DriftRow:
    fields: dict[str, object] = {"first_count": 900, "last_count": 950, "judged": True, **kw}
    return DriftRow(metric=metric, stat=stat, first=first, last=last, **fields)


def judged(max_drift: float | None = 0.2) -> Drift:
    rows = [
        drift_row("http_req_duration", "p(95)", 40.0, 44.0),
        drift_row("mcp_tool_duration{tool:get_record}", "p(95)", 12.0, 31.5, drifted=max_drift is not None),
        drift_row(
            "mcp_tool_duration{tool:rare|odd}",
            "p(95)",
            5.0,
            9.0,
            first_count=3,
            last_count=4,
            judged=False,
            note=f"too few samples (3 and 4; {MIN_SAMPLES} needed in each window)",
        ),
        drift_row("http_req_failed", "rate", 0.0, 0.0),
    ]
    return Drift(
        judged=True,
        ok=max_drift is None,
        max_drift=max_drift,
        window_s=600.0,
        steady=STEADY,
        first=DriftWindow(start=120.0, end=720.0),
        last=DriftWindow(start=6600.0, end=7200.0),
        rows=rows,
        reason="drift: mcp_tool_duration{tool:get_record} p(95) rose 12.0ms -> 31.5ms" if max_drift else "",
    )


def with_section(report: Drift | None) -> Results:
    return load("results-passed.json").model_copy(update={"drift": report})


# -- the console --------------------------------------------------------------------------


def test_the_console_shows_a_drift_table_after_the_tools() -> None:
    text = render_summary(with_section(judged()))
    lines = text.splitlines()
    start = lines.index(
        "  DRIFT (1 drifted): first 10m (2m–12m) vs last 10m (1h50m–2h) of steady load "
        "(soak at 10 VUs, 2m–2h); limit +20%"
    )
    assert lines[: start - 1].index("  TOOLS (tools/call)") < start  # after the tools table
    table = lines[start + 1 : start + 5]
    assert table[0].split() == ["✓", "http_req_duration", "p(95)", "40.0ms", "->", "44.0ms", "+10.0%"]
    assert table[1].split() == ["✗", "mcp_tool_duration{tool:get_record}", "p(95)", "12.0ms", "->", "31.5ms", "+162.5%"]
    assert table[2].startswith("    - mcp_tool_duration{tool:rare|odd} p(95)")
    assert table[2].endswith(f"not judged: too few samples (3 and 4; {MIN_SAMPLES} needed in each window)")
    assert table[3].split() == ["✓", "http_req_failed", "rate", "0%", "->", "0%", "+0.00", "pt"]


def test_the_console_says_when_drift_was_not_judged_and_why() -> None:
    report = Drift(judged=False, ok=True, max_drift=0.2, note="the steady load lasted 30s; ...")
    text = render_summary(with_section(report))
    assert "\n  DRIFT not judged: the steady load lasted 30s; ...\n" in text
    assert "DRIFT" not in render_summary(with_section(None))  # a file from before drift: nothing to say


def test_reported_only_marks_nothing_as_passed_or_failed() -> None:
    text = render_summary(with_section(judged(max_drift=None)))
    assert "DRIFT (reported only): " in text
    assert "reported only (--max-drift off)" in text
    assert "    · mcp_tool_duration{tool:get_record} p(95)" in text
    assert "✗" not in text.split("DRIFT")[1]


# -- the job summary ----------------------------------------------------------------------


def test_the_job_summary_has_a_drift_table_after_the_thresholds() -> None:
    text = render_markdown(with_section(judged()))
    headings = [line.removeprefix("### ") for line in text.splitlines() if line.startswith("### ")]
    assert headings[0].startswith("Thresholds: all ")
    assert headings[1] == "Drift: 1 drifted"
    part = section(text, "### Drift")
    assert (
        "The first 10m (2m–12m) and the last 10m (1h50m–2h) of steady load (soak at 10 VUs, 2m–2h) compared; "
        "a rise of more than 20% fails the run."
    ) in part
    rows = [cells(line) for line in part.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows[0] == ["✓", "http_req_duration p(95)", "40.0ms", "44.0ms", "+10.0%", ""]
    assert rows[1] == ["✗", "mcp_tool_duration{tool:get_record} p(95)", "12.0ms", "31.5ms", "+162.5%", ""]
    # A tool name from the server cannot break the table.
    assert rows[2][:2] == ["-", "mcp_tool_duration{tool:rare\\|odd} p(95)"]
    assert rows[2][5] == f"not judged: too few samples (3 and 4; {MIN_SAMPLES} needed in each window)"
    assert rows[3] == ["✓", "http_req_failed rate", "0%", "0%", "+0.00 pt", ""]


def test_the_job_summary_says_when_drift_was_not_judged_or_only_reported() -> None:
    report = Drift(judged=False, ok=True, max_drift=0.2, note="the load never held steady")
    part = section(render_markdown(with_section(report)), "### Drift")
    assert part.startswith("### Drift: not judged\n\nNot judged: the load never held steady.")
    part = section(render_markdown(with_section(judged(max_drift=None))), "### Drift")
    assert part.startswith("### Drift: reported only\n")
    assert "compared; reported only (--max-drift off)." in part
    assert "### Drift" not in render_markdown(with_section(None))


def test_a_huge_drift_table_keeps_the_drifted_rows_under_the_cap() -> None:
    rows = [drift_row(f"mcp_tool_duration{{tool:t{i:04}}}", "p(95)", 10.0, 10.0 + i % 7) for i in range(3000)]
    rows[1234] = drift_row("mcp_tool_duration{tool:leaky}", "p(95)", 10.0, 90.0, drifted=True)
    report = judged().model_copy(update={"rows": rows})
    text = render_markdown(with_section(report), max_bytes=60_000)
    assert len(text.encode()) <= 60_000
    part = section(text, "### Drift")
    assert "tool:leaky" in part
    assert "…and 2,950 smaller changes, left out." in part
    assert "drift rows beyond the 50 largest changes" in text


# -- JUnit ----------------------------------------------------------------------------------


def test_junit_has_a_case_per_drift_measure() -> None:
    root = ET.fromstring(render_junit(with_section(judged())))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase") if c.get("classname") == "drift"}
    assert list(cases) == [
        "http_req_duration p(95)",
        "mcp_tool_duration{tool:get_record} p(95)",
        "mcp_tool_duration{tool:rare|odd} p(95)",
        "http_req_failed rate",
    ]
    failure = cases["mcp_tool_duration{tool:get_record} p(95)"].find("failure")
    assert failure is not None
    assert failure.get("message") == "12.0ms -> 31.5ms (+162.5%), limit 20%"
    skipped = cases["mcp_tool_duration{tool:rare|odd} p(95)"].find("skipped")
    assert skipped is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")
    assert cases["http_req_duration p(95)"].find("failure") is None
    # Not judged: no cases (a smoke run would otherwise always show skipped tests).
    report = Drift(judged=False, ok=True, max_drift=0.2, note="short")
    assert 'classname="drift"' not in render_junit(with_section(report))


# -- mcpgate drift: a saved run judged again ------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A passing run's file whose timeline slows, saved before drift was judged (a short default)."""
    series = timeline(12, tools={"slow": growing(10.0, 3.0), "fast": flat(4.0)})
    results = with_drift(
        load("results-passed.json").model_copy(update={"timeseries": series}), steady(0, 12), max_drift=0.2, window=None
    )
    assert results.passed
    path = tmp_path / "results.json"
    write(results, path)
    return path


async def test_drift_judges_a_saved_run_with_another_window(saved: Path) -> None:
    code, out, err = await mcpgate("drift", str(saved))
    assert code == exitcodes.OK, err
    assert out.startswith("DRIFT not judged: the steady load lasted 12s; drift is judged by default from 4m")
    code, out, _ = await mcpgate("drift", str(saved), "--drift-window", "4s")
    assert code == exitcodes.THRESHOLDS_FAILED
    assert out.splitlines()[0].startswith("DRIFT (2 drifted): first 4s (0s–4s) vs last 4s (8s–12s)")
    assert out.splitlines()[-1].startswith("drift: mcp_tool_duration{tool:slow} p(95) rose ")
    code, out, _ = await mcpgate("drift", str(saved), "--drift-window", "4s", "--max-drift", "off", "--format", "json")
    assert code == exitcodes.OK
    data = json.loads(out)
    assert (data["judged"], data["ok"], data["max_drift"]) == (True, True, None)
    slow = next(r for r in data["rows"] if r["metric"] == "mcp_tool_duration{tool:slow}")
    assert slow["change"] == pytest.approx(slow["last"] / slow["first"] - 1)
    assert data["worst_p95_change"] == max(r["change"] for r in data["rows"] if r["stat"] == "p(95)")
    code, out, _ = await mcpgate("drift", str(saved), "--drift-window", "4s", "--max-drift", "500%", "--format", "md")
    assert code == exitcodes.OK
    assert out.startswith("### Drift: no drift\n")
    assert read(saved).drift is not None  # the file itself is left as it was


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--max-drift", "lots"), "argument --max-drift: expected a percentage like 20%, 0.2 or off, got 'lots'"),
        (("--max-drift=-5%",), "argument --max-drift: expected a percentage between 0% and 1000%"),
        (("--drift-window", "0s"), "--drift-window: must be more than 0"),
        (("--drift-window", "soon"), "argument --drift-window: expected a duration"),
    ],
)
async def test_bad_drift_flags_are_one_line_and_104(saved: Path, args: tuple[str, ...], message: str) -> None:
    for verb in (("drift", str(saved)), ("run", "--url", "http://127.0.0.1:9/mcp", "--no-progress")):
        code, out, err = await mcpgate(*verb, *args)
        assert code == exitcodes.INVALID_INPUT, out + err
        assert len(err.splitlines()) == 1
        assert message in err


async def test_drift_on_a_file_that_is_not_results_is_104(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"schema": "something/else"}')
    code, _, err = await mcpgate("drift", str(path))
    assert code == exitcodes.INVALID_INPUT
    assert "not an mcpgate results file" in err


def test_a_run_failed_by_drift_does_not_claim_its_thresholds_failed() -> None:
    results = with_section(judged())
    assert all(t.ok for t in results.thresholds)
    reason = judged().reason
    update = {"status": "failed", "exit_code": exitcodes.THRESHOLDS_FAILED, "reason": reason}
    run = results.run.model_copy(update=update)
    failed = results.model_copy(update={"run": run})
    assert render_summary(failed).splitlines()[0] == f"mcpgate: FAILED (exit 99): {reason}"
    assert render_markdown(failed).splitlines()[0] == "## ❌ mcpgate — FAILED (exit 99)"
    # A threshold that failed is still named as the cause.
    assert render_summary(load("results-failed.json")).startswith("mcpgate: FAILED: thresholds crossed (exit 99)")
