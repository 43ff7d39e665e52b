"""A session as a real client runs it, end to end through ``mcpgate run``: every step type, a
captured value carried into later requests, the server's sampling, elicitation and roots requests
answered, progress counted, a call given up on purpose (cancelled, and the server told), and on the
everything server a task-augmented call; with 0 errors, and every method's metrics in every report."""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PeerFactory
from tests.run.helpers import config_file, run_cli
from tests.servers import example_cmd, serving

pytestmark = pytest.mark.asyncio

CLIENT = {
    "sampling": {"text": "a summary from the load test's LLM", "model": "load-llm", "delay": "5ms..20ms"},
    "elicitation": {"action": "accept", "content": {"name": "load test", "confirmed": True}},
    "roots": [{"uri": "file:///srv/records", "name": "records"}],
}

EXAMPLE_STEPS: list[dict[str, Any]] = [
    {
        "tool": "search_records",
        "arguments": {"query": "body {{ randint(0, 999) }} ", "limit": 3},
        "capture": {"record_id": "$.structuredContent.result[0]"},
    },
    {
        "tool": "get_record",
        "name": "fetch",
        "arguments": {"id": "{{ vars.record_id }}"},
        "expect": {"json": {"$.structuredContent.id": "{{ args.id }}"}},
    },
    {"read": "records://{{ vars.record_id }}", "expect": {"text_contains": "{{ vars.record_id }}"}},
    {"prompt": "summarize_record", "arguments": {"id": "{{ vars.record_id }}"}},
    {"complete": {"prompt": "summarize_record", "argument": {"name": "id", "value": "rec_1"}}},
    {"list": "resource_templates"},
    {"subscribe": "records://{{ vars.record_id }}"},
    {"unsubscribe": "records://{{ vars.record_id }}"},
    {"log_level": "warning"},
    {"ping": True},
    {"method": "prompts/list", "params": {}, "name": "raw"},
    {
        "tool": "summarize_with_llm",
        "arguments": {"topic": "records"},
        "expect": {"text_contains": "a summary from the load test's LLM"},
    },
    {"tool": "confirm_action", "arguments": {"action_name": "deploy"}, "expect": {"text_contains": "load test"}},
    {"tool": "list_client_roots", "expect": {"text_contains": "file:///srv/records"}},
    {"tool": "count_slowly", "arguments": {"steps": 3, "delay": 0.01}, "progress": True},
    {"tool": "count_slowly", "name": "given up", "arguments": {"steps": 40, "delay": 0.05}, "cancel_after": "150ms"},
]

EXAMPLE_METHODS = (
    "tools/call",
    "resources/read",
    "prompts/get",
    "completion/complete",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "logging/setLevel",
    "ping",
    "prompts/list",
)


async def _run(tmp_path: Path, config: dict[str, Any]) -> tuple[dict[str, Any], str, str, str]:
    path = config_file(tmp_path / "mcpgate.yaml", config)
    md, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    ran = await run_cli(tmp_path, "-c", str(path), "--markdown", str(md), "--junit", str(junit))
    assert ran.code == 0, ran.stdout + ran.stderr
    return json.loads(ran.out.read_text()), ran.stdout, md.read_text(), junit.read_text()


def _no_errors(metrics: dict[str, Any]) -> None:
    failed = {
        k: v["values"]["count"] for k, v in metrics.items() if k.startswith("mcp_errors_") and v["values"]["count"]
    }
    assert not failed, failed
    assert metrics["http_req_failed"]["values"]["rate"] == 0


def _every_report_has(methods: tuple[str, ...], metrics: dict[str, Any], console: str, md: str, junit: str) -> None:
    cases = [case.get("name", "") for case in ET.fromstring(junit).iter("testcase")]
    for method in methods:
        assert any(name.startswith(f"{method} ") for name in cases), (method, cases)  # its check a test case
        assert metrics[f"mcp_method_duration{{method:{method}}}"]["values"]["count"] > 0, method
        assert f" {method} " in console, method
        assert f"| {method} |" in md or f"`{method}`" in md, method


async def test_a_whole_client_session_against_the_example_server(tmp_path: Path) -> None:
    with serving(example_cmd) as server:
        config = {
            "target": {"url": server.url("/mcp"), "protocol_version": "2025-11-25", "timeout": "5s"},
            "client": CLIENT,
            "flow": {"steps": EXAMPLE_STEPS},
            "scenarios": {"s": {"executor": "constant-vus", "vus": 3, "duration": "3s"}},
            "thresholds": {"checks{check:fetch}": ["rate==1"], "mcp_errors_check_failed": ["count<1"]},
        }
        results, console, md, junit = await _run(tmp_path, config)
        deadline = time.monotonic() + 5
        while "count_slowly cancelled" not in server.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, "the server never saw a cancelled count_slowly"
            await asyncio.sleep(0.05)
    metrics = results["metrics"]
    _no_errors(metrics)
    _every_report_has(EXAMPLE_METHODS, metrics, console, md, junit)
    assert metrics["mcp_server_requests{method:sampling/createMessage}"]["values"]["count"] > 0
    assert metrics["mcp_server_requests{method:elicitation/create}"]["values"]["count"] > 0
    assert metrics["mcp_server_requests{method:roots/list}"]["values"]["count"] > 0
    assert metrics["mcp_server_request_duration{method:sampling/createMessage}"]["values"]["min"] >= 4.5
    assert metrics["mcp_progress_notifications"]["values"]["count"] > 0
    assert metrics["mcp_cancelled"]["values"]["count"] > 0
    # A call given up on purpose is no failure and tells no duration: the tool's slowest call is the
    # progress one (three 10 ms steps), never the cancelled 150 ms.
    assert metrics["mcp_tool_duration{tool:count_slowly}"]["values"]["max"] < 150


EVERYTHING_STEPS: list[dict[str, Any]] = [
    {"list": "resources", "capture": {"uri": "$.resources[0].uri"}},
    {"read": "{{ vars.uri }}", "expect": {"json": {"$.contents[0].uri": "{{ vars.uri }}"}}},
    {"prompt": "args-prompt", "arguments": {"city": "Paris", "state": "Texas"}, "expect": {"text_contains": "Paris"}},
    {"complete": {"prompt": "completable-prompt", "argument": {"name": "department", "value": "E"}}},
    {"subscribe": "{{ vars.uri }}"},
    {"unsubscribe": "{{ vars.uri }}"},
    {"log_level": "warning"},
    {"ping": True},
    {"tool": "trigger-sampling-request", "arguments": {"prompt": "hello", "maxTokens": 10}},
    {"tool": "trigger-elicitation-request"},
    {"tool": "get-roots-list", "expect": {"text_contains": "file:///srv/records"}},
    {"tool": "trigger-long-running-operation", "arguments": {"duration": 0.2, "steps": 2}, "progress": True},
    {"tool": "trigger-long-running-operation", "arguments": {"duration": 5, "steps": 5}, "cancel_after": "200ms"},
    {"tool": "simulate-research-query", "arguments": {"topic": "load testing"}, "task": True},
]


async def test_a_whole_client_session_against_the_everything_server(peer: PeerFactory, tmp_path: Path) -> None:
    config = {
        "target": {"url": peer("ts-streamable"), "timeout": "10s"},
        "client": CLIENT,
        "flow": {"steps": EVERYTHING_STEPS},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 2, "duration": "1s"}},  # one iteration each
    }
    results, console, md, junit = await _run(tmp_path, config)
    metrics = results["metrics"]
    _no_errors(metrics)
    methods = ("tools/call", "resources/read", "prompts/get", "completion/complete", "logging/setLevel", "ping")
    _every_report_has((*methods, "tasks/get", "tasks/result"), metrics, console, md, junit)
    for asked in ("sampling/createMessage", "elicitation/create", "roots/list"):
        assert metrics[f"mcp_server_requests{{method:{asked}}}"]["values"]["count"] >= 2, asked
    assert metrics["mcp_progress_notifications"]["values"]["count"] >= 2
    iterations = metrics["iterations"]["values"]["count"]
    assert iterations >= 2
    assert metrics["mcp_cancelled"]["values"]["count"] == iterations
    task = metrics["mcp_task_duration{tool:simulate-research-query}"]["values"]
    assert task["count"] == iterations
    assert task["min"] > 3500  # four stages of a second: measured to the task's completion
