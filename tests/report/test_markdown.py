"""The Markdown job summary: verdict first, every threshold and tool, sparklines, escaping, the size cap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcpgate.report import context, markdown
from mcpgate.report.context import summary_context
from mcpgate.report.escape import md_cell
from mcpgate.report.markdown import render_markdown
from mcpgate.report.thresholds import measured
from mcpgate.report.timeline import SPARKS, merge_points, sparkline
from mcpgate.results.io import read
from mcpgate.results.schema import ErrorClass, ErrorSample, Latency, Results, TimelinePoint, Timeseries

DATA = Path(__file__).resolve().parent.parent / "data"
FIXTURES = ["results-passed.json", "results-failed.json"]


def load(name: str) -> Results:
    return read(DATA / name)


def cells(row: str) -> list[str]:
    """A GFM table row split the way GitHub splits it: on pipes not escaped by a backslash."""
    out, current, escaped = [], "", False
    for ch in row.strip():
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == "|":
            out.append(current)
            current = ""
        else:
            current += ch
    out.append(current)
    return [c.strip() for c in out[1:-1]]


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n### ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def point(t: float, *, vus: int = 1, requests: int = 10, errors: int = 0, p95: float | None = 5.0) -> TimelinePoint:
    return TimelinePoint(
        t=t,
        vus=vus,
        vus_max=vus,
        requests=requests,
        rps=float(requests),
        failed=0,
        errors=errors,
        iterations=requests // 2,
        dropped=0,
        p95=p95,
    )


# -- md_cell ----------------------------------------------------------------------------


def test_md_cell_keeps_a_table_row_one_line_with_its_cells() -> None:
    nasty = "a|b\nc\r\nd `code` <img src=x onerror=alert(1)> </details> [x](http://e) *b* \x00\x1b\u2028end"
    row = f"| {md_cell(nasty)} | second |"
    assert "\n" not in row
    assert "\r" not in row
    assert cells(row)[1] == "second"
    assert len(cells(row)) == 2
    escaped = md_cell(nasty)
    assert "\\|" in escaped
    assert "\\`code\\`" in escaped
    assert "\\<img" in escaped
    assert "\\</details>" in escaped
    assert "\\[x\\]" in escaped
    assert "\x00" not in escaped
    assert "\x1b" not in escaped


def test_md_cell_leaves_harmless_text_readable() -> None:
    assert md_cell("mcp_tool_duration{tool:get_record}") == "mcp_tool_duration{tool:get_record}"
    assert md_cell("p(95)<100") == "p(95)<100"
    assert md_cell("a & b") == "a & b"
    assert md_cell(None) == ""
    assert md_cell(12.5) == "12.5"


def test_md_cell_escapes_what_could_start_syntax() -> None:
    assert md_cell("_x_") == "\\_x\\_"
    assert md_cell("&amp;") == "\\&amp;"
    assert md_cell("$x$") == "\\$x\\$"
    assert md_cell("back\\slash|") == "back\\\\slash\\|"


def test_md_cell_limit_cuts_before_escaping() -> None:
    assert md_cell("x" * 50, limit=10) == "x" * 9 + "…"
    assert md_cell("|" * 50, limit=4) == "\\|\\|\\|…"


# -- sparklines and merged intervals ----------------------------------------------------


def test_sparkline_scales_from_zero_and_shows_any_nonzero_value() -> None:
    line = sparkline([0, 1, 50, 100, None])
    assert line[0] == SPARKS[0]
    assert line[1] == SPARKS[1]  # 1% of the peak is still visibly above zero
    assert line[3] == SPARKS[-1]
    assert line[4] == "·"
    assert sparkline([0, 0]) == SPARKS[0] * 2
    assert sparkline([]) == ""


def test_merge_points_sums_counts_and_keeps_the_worst() -> None:
    points = [point(float(t), vus=t, requests=10 * t, errors=t % 2, p95=float(t)) for t in range(1, 11)]
    rows = merge_points(points, 3)
    assert len(rows) == 3  # 4 + 4 + 2 points
    first = rows[0]
    assert (first.start, first.end) == (0.0, 4.0)
    assert first.vus == 4
    assert first.requests == 10 + 20 + 30 + 40
    assert first.rps == pytest.approx(100 / 4)
    assert first.errors == 2
    assert first.p95 == 4.0
    assert rows[-1].start == 8.0
    assert sum(r.requests for r in rows) == sum(p.requests for p in points)


def test_merge_points_handles_intervals_without_requests() -> None:
    rows = merge_points([point(1.0, p95=None), point(2.0, p95=None)], 1)
    assert rows[0].p95 is None
    assert merge_points([], 30) == []


# -- the built-in summary ---------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_verdict_comes_first(name: str) -> None:
    results = load(name)
    lines = render_markdown(results).splitlines()
    assert lines[0].startswith("## ")
    assert f"(exit {results.run.exit_code})" in lines[0]
    assert ("PASSED" if results.passed else "FAILED") in lines[0]
    why = next(line for line in lines[1:] if line.strip())
    assert why.startswith("**Why:**")
    if results.run.reason:
        assert md_cell(results.run.reason) in why


@pytest.mark.parametrize(
    ("status", "word"),
    [
        ("aborted", "ABORTED"),
        ("interrupted", "INTERRUPTED"),
        ("not_started", "DID NOT START"),
        ("error", "INTERNAL ERROR"),
    ],
)
def test_every_status_has_a_verdict_line(status: str, word: str) -> None:
    results = load("results-failed.json")
    run = results.run.model_copy(update={"status": status, "exit_code": 105, "reason": "stopped\nby | signal"})
    first, _, rest = render_markdown(results.model_copy(update={"run": run})).partition("\n")
    assert word in first
    assert "(exit 105)" in first
    assert "**Why:** stopped by \\| signal" in rest


@pytest.mark.parametrize("name", FIXTURES)
def test_every_threshold_has_a_row_with_its_mark_and_value(name: str) -> None:
    results = load(name)
    table = section(render_markdown(results), "### Thresholds")
    rows = [cells(line) for line in table.splitlines() if line.startswith("| ✓") or line.startswith("| ✗")]
    assert len(rows) == len(results.thresholds)
    for t, row in zip(results.thresholds, rows, strict=True):
        assert row[0] == ("✓" if t.ok else "✗")
        assert row[1] == md_cell(t.metric)
        assert row[2] == md_cell(t.expression)
        assert row[3].startswith(md_cell(measured(results, t)))
    failed = sum(not t.ok for t in results.thresholds)
    assert (f"{failed} of {len(results.thresholds)} failed" if failed else "all") in table.splitlines()[0]


def test_measured_values_are_in_the_metrics_units() -> None:
    results = load("results-failed.json")
    table = section(render_markdown(results), "### Thresholds")
    assert "p(95)=4.56s" in table
    assert "rate=0%" in table
    passed = section(render_markdown(load("results-passed.json")), "### Thresholds")
    assert "no data" in passed  # mcp_init_duration: the example server has no initialize step


@pytest.mark.parametrize("name", FIXTURES)
def test_latency_tables_list_every_phase_and_tool(name: str) -> None:
    results = load(name)
    text = render_markdown(results)
    for heading, rows in (("### Latency by step", results.phases), ("### Latency by tool", results.tools)):
        table = [cells(line) for line in section(text, heading).splitlines() if line.startswith("| ")]
        assert table[0] == [
            "step" if "step" in heading else "tool",
            "count",
            "p50",
            "p95",
            "p99",
            "max",
            "errors",
            "error %",
        ]
        names = [row[0] for row in table[1:]]
        assert names == [md_cell(r.name) for r in rows]
        for r, row in zip(rows, table[1:], strict=True):
            assert row[1] == f"{r.count:,}"


def test_tool_error_rate_is_shown() -> None:
    results = load("results-failed.json")
    tools = [Latency(name="flaky|tool", count=200, errors=50, p50=1, p95=2, p99=3, avg=1, max=4)]
    text = render_markdown(results.model_copy(update={"tools": tools}))
    row = next(line for line in section(text, "### Latency by tool").splitlines() if "flaky" in line)
    assert cells(row)[0] == "flaky\\|tool"
    assert cells(row)[-2:] == ["50", "25.00%"]


@pytest.mark.parametrize("name", FIXTURES)
def test_run_shape_is_described(name: str) -> None:
    results = load(name)
    run = section(render_markdown(results), "### Run")
    for fact in (
        results.target.url,
        results.target.transport,
        results.target.protocol_version,
        "mcpgate-example 1.0.0",
        results.run.started_at,
        results.run.config_digest,
        results.run.mcpgate_version,
        f"{results.run.duration_s:.1f}s",
    ):
        assert fact is not None
        assert md_cell(fact) in run
    for s in results.scenarios:
        assert md_cell(s.description) in run
    assert f"| VUs | up to {results.scenarios[0].max_vus} |" in run


def test_server_strings_cannot_break_the_run_table() -> None:
    results = load("results-passed.json")
    target = results.target.model_copy(
        update={"server_info": {"name": "evil|name\n<script>x</script>", "version": "`1`"}, "url": "http://h/|x"}
    )
    run = section(render_markdown(results.model_copy(update={"target": target})), "### Run")
    rows = [line for line in run.splitlines() if line.startswith("| server") or line.startswith("| target")]
    assert len(rows) == 2
    for row in rows:
        assert len(cells(row)) == 2
    assert "\\<script>x\\</script>" in run
    assert re.search(r"(?<!\\)<script>", run) is None


def test_errors_show_classes_and_sample_reasons() -> None:
    results = load("results-failed.json")
    errors = [
        ErrorClass(
            kind="timeout",
            count=12,
            samples=[ErrorSample(reason="read timeout after 30s", method="tools/call", tool="slow", count=10)],
            other=2,
        ),
        ErrorClass(
            kind="http_error",
            count=3,
            samples=[ErrorSample(reason="HTTP 502 <html>bad | gateway</html>", method="tools/list", count=3)],
        ),
    ]
    text = section(render_markdown(results.model_copy(update={"errors": errors})), "### Errors")
    assert text.splitlines()[0] == "### Errors: 15 in 2 classes"
    summary = [cells(line) for line in text.split("<details>")[0].splitlines() if line.startswith("| ")]
    assert [row[0] for row in summary[1:]] == ["timeout", "http_error"]
    assert summary[1][1:] == ["12", "read timeout after 30s", "tools/call slow"]
    details = text.split("<details>")[1]
    assert "</details>" in details
    assert "HTTP 502 \\<html>bad \\| gateway\\</html>" in details
    assert "(other reasons, not kept)" in details


def test_no_errors_says_so() -> None:
    assert "None: every step's outcome was ok." in section(render_markdown(load("results-passed.json")), "### Errors")


@pytest.mark.parametrize("name", FIXTURES)
def test_how_the_run_evolved_is_shown_as_sparklines_and_a_table(name: str) -> None:
    results = load(name)
    assert results.timeseries is not None
    text = section(render_markdown(results), "### Over time")
    block = text.split("```text\n")[1].split("```")[0].splitlines()
    assert [line.split()[0] for line in block] == ["VUs", "req/s", "p95", "errors"]
    for line in block:
        spark = line.split()[1]
        assert set(spark) <= set(SPARKS) | {"·"}
        assert len(spark) == min(len(results.timeseries.points), context.MAX_SPARK_CHARS)
    assert f"peak {max(p.vus for p in results.timeseries.points)}" in block[0]
    rows = [line for line in text.split("<details>")[1].splitlines() if re.match(r"\| [\d.]+–[\d.]+s \|", line)]
    assert 0 < len(rows) <= context.MAX_TABLE_ROWS
    assert sum(int(cells(r)[2].replace(",", "")) for r in rows) == sum(p.requests for p in results.timeseries.points)


def test_long_runs_are_downsampled() -> None:
    results = load("results-passed.json")
    points = [point(float(t), vus=t % 40, requests=t % 7) for t in range(1, 3601)]
    ts = Timeseries(interval_s=1.0, points=points)
    text = section(render_markdown(results.model_copy(update={"timeseries": ts})), "### Over time")
    block = text.split("```text\n")[1].split("```")[0].splitlines()
    assert all(len(line.split()[1]) == context.MAX_SPARK_CHARS for line in block)
    rows = [line for line in text.splitlines() if re.match(r"\| [\d.]+–[\d.]+s \|", line)]
    assert len(rows) == context.MAX_TABLE_ROWS
    assert "120 intervals each" in text


def test_sections_come_in_order() -> None:
    text = render_markdown(load("results-failed.json"))
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    order = ["Thresholds", "Latency by step", "Latency by tool", "Errors", "Run", "Over time"]
    assert [h.split(":")[0].removeprefix("### ").split(" (")[0] for h in headings] == order


def test_context_variables_are_documented() -> None:
    doc = markdown.__doc__ or ""
    for key in summary_context(load("results-passed.json")):
        assert f"``{key}``" in doc, key


# -- the size cap -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def huge() -> Results:
    """Thousands of long error samples, points and tools: far over GitHub's 1 MiB."""
    results = load("results-failed.json")
    errors = [
        ErrorClass(
            kind=kind,
            count=100_000,
            samples=[
                ErrorSample(
                    reason=f"{kind} #{i} " + "very long | reason <b> " * 25, method="tools/call", tool="t", count=10
                )
                for i in range(1000)
            ],
        )
        for kind in ("timeout", "http_error", "protocol_error")
    ]
    points = [point(float(t), vus=t % 50, requests=t % 9, errors=t % 3) for t in range(1, 20_001)]
    tools = [
        Latency(name=f"tool_{i}_" + "x" * 200, count=i, errors=0, p50=1, p95=2, p99=3, avg=1, max=4)
        for i in range(3000)
    ]
    return results.model_copy(
        update={"errors": errors, "timeseries": Timeseries(interval_s=1.0, points=points), "tools": tools}
    )


def test_a_huge_summary_stays_under_the_cap_and_says_what_it_left_out(huge: Results) -> None:
    text = render_markdown(huge)
    assert len(text.encode()) <= 1_000_000
    assert text.startswith("## ❌")
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith("> ✂️ Trimmed to stay under 1,000,000 bytes")
    assert "the per-interval table" in last
    assert "error samples" in last
    # What matters most survives: thresholds, phases, the error classes, the sparklines.
    assert "| ✗ | mcp_tool_duration | p(95)<100 |" in text
    assert "### Latency by step" in text
    assert "| protocol_error | 100,000 |" in text
    assert "```text\nVUs" in text


@pytest.mark.parametrize(("cap", "last_resort"), [(20_000, "tools beyond the 50 busiest"), (3_000, "everything past")])
def test_a_small_cap_trims_further_and_keeps_it_well_formed(huge: Results, cap: int, last_resort: str) -> None:
    text = render_markdown(huge, max_bytes=cap)
    assert len(text.encode()) <= cap
    assert text.startswith("## ❌")
    assert "Trimmed to stay under" in text.splitlines()[-1]
    assert last_resort in text.splitlines()[-1]
    assert text.count("```") % 2 == 0
    assert text.count("<details>") == text.count("</details>")


def test_nothing_is_trimmed_when_it_fits() -> None:
    text = render_markdown(load("results-passed.json"))
    assert "Trimmed" not in text
    assert len(text.encode()) < 20_000


# -- user templates ---------------------------------------------------------------------


def test_a_user_template_renders_with_the_same_context(tmp_path: Path) -> None:
    template = tmp_path / "mine.md"
    template.write_text(
        "# {{ verdict.status }} {{ verdict.exit_code }}\n"
        "{% for t in thresholds %}{{ t.mark }} {{ t.metric | cell }} {{ t.observed }}\n{% endfor %}"
        "{% for t in tools %}{{ t.name }}={{ t.p95 | ms }};{% endfor %}\n\n"
        "{{ target.url }} {{ results.run.profile }}\n"
        '{% include "mcpgate/verdict.md.j2" %}',
        encoding="utf-8",
    )
    text = render_markdown(load("results-failed.json"), template=template)
    lines = text.splitlines()
    assert lines[0] == "# failed 99"
    assert "✗ mcp_tool_duration p(95)=4.56s" in lines
    assert "fetch_external_data=4.56s;get_record=2.8ms;search_records=304ms;" in lines
    assert "http://127.0.0.1:18011/mcp smoke" in lines
    assert "## ❌ mcpgate — FAILED: thresholds crossed (exit 99)" in lines


@pytest.mark.parametrize(
    ("source", "line", "says"),
    [
        ("ok\n{% if %}\n", 2, "Expected an expression"),
        ("ok\n\n{{ no_such_variable }}\n", 3, "no_such_variable"),
        ("{{ verdict.status }}\n{% for x in tools %}{{ x.nope.deeper }}{% endfor %}\n", 2, "nope"),
        ("a\n{{ ''.__class__.__mro__ }}\n", 2, "__class__"),
        ('{% include "missing.md.j2" %}\n', 1, "missing.md.j2"),
        ("{{ 1 / 0 }}\n", 1, "division by zero"),
    ],
)
def test_a_broken_user_template_gives_a_one_line_value_error(tmp_path: Path, source: str, line: int, says: str) -> None:
    template = tmp_path / "broken.md.j2"
    template.write_text(source, encoding="utf-8")
    with pytest.raises(ValueError, match="summary template") as caught:
        render_markdown(load("results-passed.json"), template=template)
    message = str(caught.value)
    assert "\n" not in message
    assert str(template) in message
    assert f"line {line}" in message
    assert says in message


def test_a_missing_user_template_gives_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"summary template .*nope\.md: not found"):
        render_markdown(load("results-passed.json"), template=tmp_path / "nope.md")


def test_a_user_template_is_capped_too(tmp_path: Path, huge: Results) -> None:
    template = tmp_path / "all.md"
    template.write_text("{% for e in errors %}{% for s in e.samples %}{{ s.reason }}\n{% endfor %}{% endfor %}")
    text = render_markdown(huge, template=template, max_bytes=50_000)
    assert len(text.encode()) <= 50_000
    assert "Trimmed" in text.splitlines()[-1]
