"""Baseline regression: a run compared with an earlier one, from the CLI, the action and saved files.

Two real SDK servers differ only in how long ``search_records`` works (20 ms and 100 ms): the
planted regression. Runs against the fast one are the baseline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpgate.report.baseline import render_markdown, render_text
from mcpgate.results.io import read
from mcpgate.results.schema import MetricEntry, Results
from mcpgate.support import exitcodes
from mcpgate.verdict.baseline import compare
from tests import servers
from tests.action.test_action import action, base
from tests.run.helpers import Ran, config_file, run_cli
from tests.test_cli_probe import mcpgate

SEARCH = "mcp_tool_duration{tool:search_records}"


@pytest.fixture(scope="module")
def fast() -> Iterator[str]:
    yield from _server("0.02")


@pytest.fixture(scope="module")
def slow() -> Iterator[str]:
    yield from _server("0.1")


def _server(search_delay: str) -> Iterator[str]:
    with servers.serving(lambda port: servers.example_cmd(port, "--json", search=search_delay)) as server:
        yield server.url("/mcp")


def config(tmp_path: Path, url: str) -> Path:
    """A fixed load (an arrival rate), so throughput is the same on both sides unless the server falls behind."""
    data = {
        "target": {"url": url, "protocol_version": "2025-11-25"},
        "flow": {"tools": [{"name": "search_records", "arguments": {"query": "test"}}]},
        "scenarios": {
            "steady": {
                "executor": "constant-arrival-rate",
                "rate": 10,
                "duration": "2s",
                "preAllocatedVUs": 4,
                "maxVUs": 8,
            }
        },
    }
    return config_file(tmp_path / f"mcpgate-{abs(hash(url))}.yaml", data)


async def measured(tmp_path: Path, url: str, name: str, *flags: str) -> Ran:
    return await run_cli(tmp_path, "-c", str(config(tmp_path, url)), *flags, out=f"{name}.json")


async def test_a_planted_regression_fails_the_run_and_compare(fast: str, slow: str, tmp_path: Path) -> None:
    code, _, stderr, baseline = await measured(tmp_path, fast, "baseline")
    assert code == exitcodes.OK, stderr
    summary = tmp_path / "summary.md"
    code, stdout, stderr, current = await measured(
        tmp_path, slow, "current", "--baseline", str(baseline), "--markdown", str(summary)
    )
    assert code == exitcodes.THRESHOLDS_FAILED, stdout + stderr
    results = read(current)
    assert results.run.status == "failed"
    assert results.baseline is not None
    assert not results.baseline.ok
    flagged = {(d.metric, d.stat) for d in results.baseline.deltas if d.regressed}
    assert (SEARCH, "p(95)") in flagged
    assert (SEARCH, "p(99)") in flagged
    # The reason names the worst change, and how many more there are.
    assert results.run.reason.startswith("regression against the baseline: ")
    assert results.run.reason.endswith(f"(and {len(flagged) - 1} more)")
    # The same arrival rate on both sides: throughput held, so it is compared and not flagged.
    throughput = [d for d in results.baseline.deltas if d.kind == "throughput"]
    assert len(throughput) == 1
    assert not throughput[0].regressed
    assert any("another target" in note for note in results.baseline.notes)  # the slow server's port differs
    # The console and the job summary show the delta table.
    assert f"BASELINE ({len(flagged)} regression(s); limit 20%" in stdout
    assert f"✗ {SEARCH} p(95)" in stdout
    markdown = summary.read_text()
    assert "Compared with the baseline" in markdown
    assert "search" in markdown
    # mcpgate compare says the same from the two saved files, in each format.
    code, text, _ = await mcpgate("compare", str(baseline), str(current))
    assert code == exitcodes.THRESHOLDS_FAILED
    assert f"✗ {SEARCH} p(95)" in text
    code, out, _ = await mcpgate("compare", str(baseline), str(current), "--format", "json")
    data = json.loads(out)
    assert code == exitcodes.THRESHOLDS_FAILED
    assert not data["ok"]
    assert {(d["metric"], d["stat"]) for d in data["deltas"] if d["regressed"]} == flagged
    # A limit wider than the change lets it through (+400% of 20 ms, and room for a busy machine).
    code, _, _ = await mcpgate("compare", str(baseline), str(current), "--max-regression", "1000%")
    assert code == exitcodes.OK


async def test_an_equal_run_passes(fast: str, tmp_path: Path) -> None:
    code, _, stderr, baseline = await measured(tmp_path, fast, "baseline")
    assert code == exitcodes.OK, stderr
    code, text, _ = await mcpgate("compare", str(baseline), str(baseline))
    assert code == exitcodes.OK
    assert text.startswith("compared with the baseline from")
    assert "no regression" in text.splitlines()[0]
    assert "✗" not in text
    # A second run of the same load on the same server takes the weekly check's code path: no notes
    # (the same config and target) and every measure compared. Its limit is wide on purpose: on a
    # busy test machine a p99 of a few dozen samples can swing by several times its value.
    code, stdout, stderr, current = await measured(
        tmp_path, fast, "again", "--baseline", str(baseline), "--max-regression", "1000%"
    )
    assert code == exitcodes.OK, stdout + stderr
    results = read(current)
    assert results.baseline is not None
    assert results.baseline.ok
    assert results.baseline.notes == []  # the same config and target
    assert {d.metric for d in results.baseline.deltas} >= {SEARCH, "http_req_duration", "http_req_failed", "http_reqs"}


def with_values(results: Results, key: str, **values: float) -> Results:
    entry = results.metrics[key]
    changed = MetricEntry.model_validate({**entry.model_dump(), "values": {**entry.values, **values}})
    return results.model_copy(update={"metrics": {**results.metrics, key: changed}})


async def test_small_absolute_changes_are_not_regressions(fast: str, tmp_path: Path) -> None:
    code, _, stderr, path = await measured(tmp_path, fast, "baseline")
    assert code == exitcodes.OK, stderr
    real = read(path)
    base_run = with_values(real, "http_req_duration", **{"p(95)": 0.4, "p(99)": 0.5})
    base_run = with_values(base_run, "http_req_failed", rate=0.0001)
    # +50% of 0.4 ms and 0.01% -> 0.02%: noise, not regressions.
    noisy = with_values(base_run, "http_req_duration", **{"p(95)": 0.6, "p(99)": 0.75})
    noisy = with_values(noisy, "http_req_failed", rate=0.0002)
    comparison = compare(base_run, noisy)
    assert comparison.ok, render_text(comparison)
    # Beyond the floors the same relative changes count.
    worse = with_values(base_run, "http_req_duration", **{"p(95)": 2.0})
    worse = with_values(worse, "http_req_failed", rate=0.02)
    worse = with_values(worse, "http_reqs", rate=(real.metric("http_reqs", "rate") or 0.0) * 0.5)
    flagged = {(d.metric, d.stat) for d in compare(base_run, worse).regressions}
    assert flagged == {("http_req_duration", "p(95)"), ("http_req_failed", "rate"), ("http_reqs", "rate")}
    # A tool measured before and not now is a note; a baseline that did not pass is too.
    gone = real.model_copy(
        update={
            "metrics": {k: v for k, v in real.metrics.items() if "search_records" not in k},
            "run": real.run.model_copy(update={"config_digest": "other"}),
        }
    )
    failed = real.model_copy(update={"run": real.run.model_copy(update={"status": "failed"})})
    notes = compare(failed, gone).notes
    assert any(note.startswith("measured in the baseline only: ") and SEARCH in note for note in notes)
    assert any("did not pass" in note for note in notes)
    assert any("another config" in note for note in notes)
    assert "measured in the baseline only" in render_markdown(compare(failed, gone))


async def test_the_action_gates_on_the_baseline(fast: str, slow: str, tmp_path: Path) -> None:
    inputs = {**base(fast), "INPUT_TOOLS": 'search_records: 1 {"query": "test"}', "INPUT_RESULTS-DIR": "out"}
    (tmp_path / "first").mkdir()
    first = await action(tmp_path / "first", {**inputs, "INPUT_BASELINE": ".mcpgate/baseline.json"})
    assert first.code == exitcodes.OK, first.stdout + first.stderr
    assert "no baseline at .mcpgate/baseline.json yet" in first.stdout  # the first run sets it
    kept = tmp_path / "second" / "workspace" / ".mcpgate" / "baseline.json"
    kept.parent.mkdir(parents=True)
    kept.write_bytes((first.workspace / "out" / "results.json").read_bytes())
    second = await action(
        tmp_path / "second", {**inputs, "INPUT_URL": slow, "INPUT_BASELINE": ".mcpgate/baseline.json"}
    )
    assert second.code == exitcodes.THRESHOLDS_FAILED, second.stdout + second.stderr
    assert second.outputs["passed"] == "false"
    assert any(
        line.startswith("::error title=mcpgate%3A regression against the baseline::regression against the baseline: ")
        for line in second.stdout.splitlines()
    ), second.stdout
    assert "Compared with the baseline" in second.summary
