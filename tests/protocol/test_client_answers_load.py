"""A tool that needs sampling, under load: ``mcpgate run`` with a ``client:`` config against the
example server succeeds with no errors, counts the server's requests and times our answers with
the configured delay distribution inside them; in worker processes too (the answers pickle)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcpgate.support import exitcodes
from tests.conftest import PeerFactory
from tests.run.helpers import config_file, run_cli

SAMPLED = "mcp_server_requests{method:sampling/createMessage}"
ANSWERED = "mcp_server_request_duration{method:sampling/createMessage}"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "client-answers.yaml"


def load_config(url: str, version: str) -> dict[str, object]:
    return {
        "target": {"url": url, "transport": "streamable-http", "protocol_version": version, "timeout": "5s"},
        "client": {
            "sampling": {
                "text": "summary of {{ request.messages[-1].content.text }}",
                "delay": {"distribution": "lognormal", "median": "40ms", "p95": "90ms"},
            }
        },
        "flow": {
            "calls_per_session": 3,
            "tools": [{"name": "summarize_with_llm", "arguments": {"topic": "topic {{ vu }}"}}],
        },
        "scenarios": {"load": {"executor": "constant-vus", "vus": 4, "duration": "3s"}},
        "thresholds": {"mcp_tool_errors": ["rate==0"], "http_req_failed": ["rate==0"], ANSWERED: ["p(95)<1000"]},
    }


@pytest.mark.parametrize(("version", "workers"), [("2025-11-25", "1"), ("2026-07-28", "2")])
async def test_a_sampling_tool_succeeds_under_load(
    peer: PeerFactory, tmp_path: Path, version: str, workers: str
) -> None:
    config = config_file(tmp_path / "mcpgate.yaml", load_config(peer("stateful-sse"), version))
    code, text, err, out = await run_cli(tmp_path, "-c", str(config), "--workers", workers)
    assert code == exitcodes.OK, text + err
    results = json.loads(out.read_text())
    assert results["target"]["protocol_version"] == version
    metrics = results["metrics"]
    calls = metrics["mcp_tool_duration{tool:summarize_with_llm}"]["values"]["count"]
    assert calls >= 20
    assert metrics["mcp_tool_errors"]["values"]["rate"] == 0
    assert metrics[SAMPLED]["values"]["count"] == calls  # one sampling request per call, each answered
    answered = metrics[ANSWERED]["values"]
    assert answered["count"] == calls
    # The lognormal delay: median 40 ms, p95 90 ms, what the answer's own work adds is small.
    assert 30 <= answered["med"] <= 60
    assert 60 <= answered["p(95)"] <= 140
    assert metrics["mcp_tool_duration{tool:summarize_with_llm}"]["values"]["med"] >= answered["med"]


async def test_the_example_config_runs_clean(peer: PeerFactory, tmp_path: Path) -> None:
    code, text, err, out = await run_cli(
        tmp_path, "-c", str(EXAMPLE), "--url", peer("stateful-sse"), "--duration", "3s", "--vus", "4"
    )
    assert code == exitcodes.OK, text + err
    metrics = json.loads(out.read_text())["metrics"]
    for tool in ("summarize_with_llm", "confirm_action", "list_client_roots"):
        assert metrics[f"mcp_tool_duration{{tool:{tool}}}"]["values"]["count"] > 0
    assert metrics["mcp_tool_errors"]["values"]["rate"] == 0
    for method in ("sampling/createMessage", "elicitation/create", "roots/list"):
        assert metrics[f"mcp_server_requests{{method:{method}}}"]["values"]["count"] > 0
