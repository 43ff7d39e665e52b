"""Verdicts and exit codes: pass, fail, abort, no data, could not start, bad templates."""

from __future__ import annotations

from pathlib import Path

from mcpgate.config.assemble import Overrides
from mcpgate.report.console import render_summary
from mcpgate.results.io import read
from mcpgate.support import exitcodes
from tests.faultserver import FaultServer
from tests.run.helpers import TOOL_CALL, calls_seen, count, plan_from, run, target
from tests.servers import free_port

BRIEF = {"s": {"executor": "constant-vus", "vus": 2, "duration": "1s"}}


async def test_failing_threshold_exits_99_and_says_which(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "50ms"},
        "scenarios": BRIEF,
        "thresholds": {"mcp_tool_duration": ["p(95)<0.001", "max<100000"], "http_req_failed": ["rate<0.01"]},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert (results.run.status, results.run.exit_code) == ("failed", exitcodes.THRESHOLDS_FAILED)
    assert [t.ok for t in results.thresholds] == [False, True, True]
    assert results.run.reason.startswith("mcp_tool_duration p(95)<0.001 failed: p(95)=")
    assert text.startswith("mcpgate: FAILED: thresholds crossed (exit 99)")


async def test_abort_on_fail_stops_the_run_early(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "50ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 2, "duration": "20s"}},
        "thresholds": {"mcp_tool_duration{tool:echo}": [{"threshold": "p(95)<0.001", "abort_on_fail": True}]},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert (results.run.status, results.run.exit_code) == ("aborted", exitcodes.THRESHOLDS_FAILED)
    assert results.run.duration_s < 8  # checked every 2 s, then a graceful stop of the iterations in flight
    assert results.thresholds[0].aborted_run


async def test_a_metric_without_samples_fails_as_no_data(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": TOOL_CALL,
        "scenarios": BRIEF,
        "thresholds": {
            "mcp_discover_duration": ["p(95)<1000"],  # this server speaks the handshake era: no discover
            "mcp_tool_duration{tool:other}": [{"threshold": "p(95)<1000", "allow_no_data": True}],
        },
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.THRESHOLDS_FAILED
    first, second = results.thresholds
    assert (first.ok, first.value, first.reason) == (False, None, "no data")
    assert (second.ok, second.value) == (True, None)


async def test_refused_preflight_exits_103_and_still_writes_results(tmp_path: Path) -> None:
    config = {"target": target(f"http://127.0.0.1:{free_port()}/mcp"), "scenarios": BRIEF}
    out = tmp_path / "results.json"
    results, text = await run(plan_from(tmp_path, config), out=out)
    assert (results.run.status, results.run.exit_code) == ("not_started", exitcodes.COULD_NOT_START)
    assert "preflight session failed: initialize: connection_error" in results.run.reason
    assert "connection refused" in results.run.reason
    saved = read(out)
    assert saved.run.status == "not_started"
    assert saved.preflight[0]["outcome"] == "connection_error"
    assert "DID NOT START" in text


async def test_unauthorized_preflight_is_named(faults: FaultServer, tmp_path: Path) -> None:
    config = {"target": target(faults.url("unauthorized")), "scenarios": BRIEF}
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.COULD_NOT_START
    assert "initialize: http_error 401" in results.run.reason


async def test_configured_tool_missing_from_tools_list(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {"tools": [{"name": "echo"}, {"name": "get_weather", "weight": 2}]},
        "scenarios": BRIEF,
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.COULD_NOT_START
    assert results.run.reason == (
        "flow.tools[1]: tool 'get_weather' is not in the server's tools/list (it offers: echo, regional)"
    )
    assert count(results, "http_reqs") == 0  # nothing was sent under load


async def test_auto_arguments_only_for_read_only_tools(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {"tools": [{"name": "echo", "arguments": "auto"}]},
        "scenarios": BRIEF,
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.COULD_NOT_START
    assert "arguments: auto is only for tools marked readOnlyHint" in results.run.reason
    config["flow"] = {"tools": [{"name": "echo", "arguments": "auto", "allow_writes": True}], "think_time": "50ms"}
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.OK
    sent = calls_seen(faults, "ok")
    assert sent[-1] == {}  # echo's schema requires nothing, so nothing is invented


async def test_a_template_that_cannot_render_is_invalid_input(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {"tools": [{"name": "echo", "arguments": {"text": "{{ missing.field }}"}}]},
        "scenarios": BRIEF,
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.INVALID_INPUT
    assert "flow.tools[0].arguments.text" in results.run.reason


async def test_templates_and_datasets_reach_the_server(faults: FaultServer, tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("id,region\n1,eu\n2,us\n3,ap\n")
    config = {
        "target": target(faults.url("ok")),
        "datasets": {"rows": {"file": "rows.csv"}},
        "flow": {
            "think_time": "20ms",
            "tools": [
                {
                    "name": "echo",
                    "dataset": "rows",
                    "arguments": {"text": "{{ row.region }}:{{ vu }}:{{ iteration }}", "n": "{{ randint(5, 5) }}"},
                }
            ],
        },
        "scenarios": {"s": {"executor": "constant-vus", "vus": 2, "duration": "0.5s"}},
        "seed": 11,
    }
    before = len(faults.seen["ok"])
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.OK, results.run.reason
    sent = calls_seen(faults, "ok", before)
    assert sent
    assert all(a["n"] == 5 for a in sent)  # a lone expression keeps its type
    regions = {a["text"].split(":")[0] for a in sent}
    assert regions <= {"eu", "us", "ap"}
    assert {a["text"] for a in sent if a["text"].endswith(":1:0")} == {"eu:1:0"}  # VU 1, iteration 0: the first row
    assert {a["text"] for a in sent if a["text"].endswith(":2:0")} == {"us:2:0"}  # VU 2 gets the next row


async def test_without_configured_tools_only_read_only_ones_are_called(faults: FaultServer, tmp_path: Path) -> None:
    config = {"target": target(faults.url("ok")), "flow": {"think_time": "50ms"}, "scenarios": BRIEF}
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.OK
    assert count(results, "http_reqs{method:tools/call}") == 0  # the fault server marks nothing readOnlyHint
    assert len(results.warnings) == 1  # a warning now, not a note: the run called no tool
    assert "none of the server's tools is marked readOnlyHint" in results.warnings[0]


async def test_report_renders_saved_results_as_the_run_did(faults: FaultServer, tmp_path: Path) -> None:
    config = {"target": target(faults.url("ok")), "flow": TOOL_CALL, "scenarios": BRIEF}
    out = tmp_path / "r.json"
    results, text = await run(plan_from(tmp_path, config, Overrides(thresholds=("iterations=count>0",))), out=out)
    assert results.run.exit_code == exitcodes.OK
    assert render_summary(read(out)) + "\n" == text


async def test_a_threshold_on_a_tool_never_called_is_caught_before_the_load(
    faults: FaultServer, tmp_path: Path
) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": TOOL_CALL,
        "scenarios": BRIEF,
        "thresholds": {"mcp_tool_duration{tool:ehco}": ["p(95)<1000"]},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.COULD_NOT_START
    assert results.run.reason == "thresholds: mcp_tool_duration{tool:ehco}: no tool 'ehco' is called in this run"


async def test_error_counters_exist_on_a_clean_run(faults: FaultServer, tmp_path: Path) -> None:
    config = {
        "target": target(faults.url("ok")),
        "flow": {**TOOL_CALL, "think_time": "50ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "0.3s"}},
        "thresholds": {"mcp_errors_timeout": ["count<1"], "mcp_errors_protocol_error": ["count<1"]},
    }
    results, _ = await run(plan_from(tmp_path, config))
    assert results.run.exit_code == exitcodes.OK, results.run.reason
