"""``mcpgate run`` and ``validate`` as users run them: against the official SDK's server in every mode,
with a seed, and with input they refuse before any load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcpgate.support import exitcodes
from tests.conftest import PeerFactory
from tests.faultserver import FaultServer
from tests.run.helpers import calls_seen, config_file, run_cli
from tests.test_cli_probe import mcpgate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("mode", "transport", "version"),
    [
        ("stateful-sse", "streamable-http", "2026-07-28"),
        ("stateful-json", "streamable-http", "2026-07-28"),
        ("stateless-sse", "streamable-http", "2026-07-28"),
        ("stateless-json", "streamable-http", "2026-07-28"),
        ("legacy-sse", "sse", "2025-11-25"),
        ("v1-stateful", "streamable-http", None),
    ],
)
async def test_smoke_profile_against_every_sdk_mode(
    peer: PeerFactory, tmp_path: Path, mode: str, transport: str, version: str | None
) -> None:
    code, text, err, out = await run_cli(
        tmp_path, "--url", peer(mode), "--profile", "smoke", "--duration", "2s", "--vus", "2"
    )
    assert code == exitcodes.OK, text + err
    results = json.loads(out.read_text())
    assert results["schema"] == "mcpgate/results/v1"
    assert results["run"]["status"] == "passed"
    assert results["target"]["transport"] == transport
    if version is not None:
        assert results["target"]["protocol_version"] == version
    calls = results["metrics"]["http_reqs{method:tools/call}"]["values"]["count"]
    assert calls > 0  # the read-only tools were called with arguments built from their schemas
    assert results["metrics"]["mcp_tool_errors"]["values"]["rate"] == 0
    assert text.startswith("mcpgate: PASSED (exit 0)")


async def test_seed_config_measures_each_tool_as_it_is(peer: PeerFactory, tmp_path: Path) -> None:
    seed = ROOT / "examples" / "mcpgate.yaml"
    code, text, err, out = await run_cli(
        tmp_path, "-c", str(seed), "--url", peer("timed"), "--duration", "6s", "--vus", "6"
    )
    assert code == exitcodes.OK, text + err
    metrics = json.loads(out.read_text())["metrics"]

    def p50(tool: str) -> float:
        value: float = metrics[f"mcp_tool_duration{{tool:{tool}}}"]["values"]["med"]
        return value

    assert 200 <= p50("search_records") < 260  # the server works 200 ms
    assert 300 <= p50("fetch_external_data") < 460  # 300-400 ms upstream
    assert p50("get_record") < 50  # a SQLite read
    assert metrics["checks{check:tools/call get_record expect}"]["values"]["rate"] == 1  # the record asked for
    assert metrics["mcp_errors_check_failed"]["values"]["count"] == 0
    entry = metrics["mcp_tool_duration"]
    assert set(entry["values"]) == {"count", "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"}
    assert entry["hdr"].startswith("HISTF")
    assert set(metrics["http_req_failed"]["values"]) == {"rate", "passes", "fails"}
    assert set(metrics["http_reqs"]["values"]) == {"count", "rate"}


async def test_failed_threshold_exits_99(peer: PeerFactory) -> None:
    code, text, _ = await mcpgate(
        "run",
        "--url",
        peer("stateless-json"),
        "--duration",
        "2s",
        "--no-progress",
        "--threshold",
        "mcp_tool_duration=p(95)<0.001",
    )
    assert code == exitcodes.THRESHOLDS_FAILED
    assert text.splitlines()[0].startswith(
        "mcpgate: FAILED: thresholds crossed (exit 99): mcp_tool_duration p(95)<0.001"
    )


async def test_duplicate_key_is_rejected_by_name(tmp_path: Path) -> None:
    config = tmp_path / "dup.yaml"
    config.write_text(
        "target: {url: 'http://127.0.0.1:1/mcp'}\n"
        "thresholds:\n"
        "  mcp_tool_duration: ['p(95)<3000']\n"
        "  mcp_tool_duration: ['p(99)<8000']\n"
    )
    for verb in (["run", "-c"], ["validate"]):
        code, out, err = await mcpgate(*verb, str(config))
        assert code == exitcodes.INVALID_INPUT
        assert err == f"mcpgate: error: {config}:4: duplicate key 'mcp_tool_duration' (first at line 3)\n"
        assert out == ""


async def test_validate_and_schema() -> None:
    code, out, _ = await mcpgate("validate", str(ROOT / "examples" / "mcpgate.yaml"))
    assert code == exitcodes.OK
    assert "ok (1 scenario(s): mcp_load; 9 threshold(s))" in out
    code, out, _ = await mcpgate("schema")
    schema = json.loads(out)
    assert schema["title"] == "mcpgate configuration"
    assert {"target", "flow", "scenarios", "thresholds"} <= set(schema["properties"])


async def test_same_seed_same_arguments_in_another_process(faults: FaultServer, tmp_path: Path) -> None:
    config = tmp_path / "seeded.yaml"
    config.write_text(
        f"target: {{url: '{faults.url('seeded')}', transport: streamable-http, protocol_version: '2025-11-25'}}\n"
        "flow:\n  tools: [{name: echo, arguments: {text: '{{ randint(0, 1000000) }}'}}]\n"
        "scenarios: {s: {executor: constant-arrival-rate, rate: 10, duration: 1s, preAllocatedVUs: 1, maxVUs: 1}}\n"
    )
    runs = []
    for _ in range(2):
        before = len(faults.seen["seeded"])
        code, out, err = await mcpgate("run", "-c", str(config), "--seed", "7", "--no-progress")
        assert code == exitcodes.OK, out + err
        runs.append([a["text"] for a in calls_seen(faults, "seeded", before)])
    assert runs[0][:5] == runs[1][:5]
    assert len(set(runs[0])) > 1


async def test_out_that_cannot_be_written_is_refused_before_the_load(tmp_path: Path) -> None:
    code, _, err = await mcpgate("run", "--url", "http://127.0.0.1:1/mcp", "--out", str(tmp_path))
    assert code == exitcodes.INVALID_INPUT
    assert err == f"mcpgate: error: --out: {tmp_path} is a directory\n"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"executor": "ramping-vus", "stages": [{"duration": "1s", "target": 2.5}]}, "a whole number, not 2.5"),
        (
            {"executor": "constant-arrival-rate", "rate": 1, "duration": "1s", "preAllocatedVUs": 5, "maxVUs": 2},
            "max_vus (2) is below pre_allocated_vus (5)",
        ),
        ({"executor": "constant-vus", "duration": "0s"}, "duration must be more than 0"),
        (
            {
                "executor": "ramping-arrival-rate",
                "timeUnit": "0s",
                "stages": [{"duration": "1s", "target": 1}],
                "preAllocatedVUs": 1,
            },
            "time_unit must be more than 0",
        ),
    ],
)
async def test_impossible_scenarios_are_invalid(tmp_path: Path, scenario: dict[str, Any], message: str) -> None:
    config = config_file(
        tmp_path / "c.yaml", {"target": {"url": "http://127.0.0.1:1/mcp"}, "scenarios": {"x": scenario}}
    )
    code, _, err = await mcpgate("validate", str(config))
    assert code == exitcodes.INVALID_INPUT
    assert message in err
    assert err.count("\n") == 1


async def test_template_syntax_and_unknown_scenarios_fail_validate(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "target: {url: 'http://127.0.0.1:1/mcp'}\nflow: {tools: [{name: t, arguments: {q: '{{ unclosed'}}]}\n"
    )
    code, _, err = await mcpgate("validate", str(config))
    assert code == exitcodes.INVALID_INPUT
    assert "flow.tools[0].arguments" in err
    config.write_text(
        "target: {url: 'http://127.0.0.1:1/mcp'}\n"
        "scenarios: {a: {executor: constant-vus, duration: 1s}}\n"
        "thresholds: {'iterations{scenario:b}': ['count>0']}\n"
    )
    code, _, err = await mcpgate("validate", str(config))
    assert code == exitcodes.INVALID_INPUT
    assert "iterations{scenario:b}: no scenario 'b'" in err
