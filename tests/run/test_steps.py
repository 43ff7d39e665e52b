"""Flows of steps against real servers: a captured chain the server's own log confirms, checks that
pass and fail, a capture that finds nothing, weighted flows, discovery on open, per-vu vars, and a
server of our own that answers one session with another's result."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpgate.results.schema import Results
from tests.mixupserver import MixupServer
from tests.run.helpers import count, plan_from, run, run_cli
from tests.servers import ROOT, Server, example_cmd, serving

pytestmark = pytest.mark.asyncio


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


@pytest.fixture
def example(log_path: Path) -> Iterator[Server]:
    with serving(lambda port: example_cmd(port, "--json", "--log-calls", str(log_path))) as server:
        yield server


@pytest.fixture
async def mixup() -> AsyncIterator[MixupServer]:
    server = MixupServer()
    await server.start()
    yield server
    await server.stop()


def handshake(url: str) -> dict[str, object]:
    return {"url": url, "transport": "streamable-http", "protocol_version": "2025-11-25", "timeout": "5s"}


def calls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def phase(results: Results, name: str) -> int:
    return next((row.count for row in results.phases if row.name == name), 0)


def vus(n: int, duration: str = "2s") -> dict[str, object]:
    return {"s": {"executor": "constant-vus", "vus": n, "duration": duration}}


CHAIN: list[dict[str, Any]] = [
    {
        "tool": "search_records",
        "name": "search",
        "arguments": {"query": "body {{ randint(0, 999) }} ", "limit": 1},
        "capture": {"record_id": "$.structuredContent.result[0]"},
        "expect": {"text_matches": "rec_[0-9]+"},
    },
    {
        "tool": "get_record",
        "name": "fetch",
        "arguments": {"id": "{{ vars.record_id }}"},
        "expect": {"json": {"$.structuredContent.id": "{{ args.id }}"}, "content_type": "text"},
    },
]


async def test_a_captured_chain_sends_what_the_server_answered(example: Server, log_path: Path, tmp_path: Path) -> None:
    """Each get_record asks for the id the search before it returned, as the server's own log shows."""
    config = {"target": handshake(example.url("/mcp")), "flow": {"steps": CHAIN}, "scenarios": vus(1)}
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason + text
    logged = calls(log_path)  # the load's calls only: the preflight lists, it calls nothing
    pairs = list(zip(logged[::2], logged[1::2], strict=False))
    assert len(pairs) >= 5
    for search, fetch in pairs:
        assert (search["tool"], fetch["tool"]) == ("search_records", "get_record")
        assert search["result"] == [fetch["id"]]
    assert len({fetch["id"] for _, fetch in pairs}) > 1  # the values are captured per call, not fixed
    assert results.metric("checks{check:fetch}", "rate") == 1.0
    assert results.metric("checks{check:search}", "rate") == 1.0
    assert count(results, "mcp_errors_check_failed") == 0


async def test_a_check_that_fails_is_check_failed(example: Server, tmp_path: Path) -> None:
    steps = [
        {"tool": "get_record", "name": "wrong", "arguments": {"id": "rec_1"}, "expect": {"text_contains": "rec_2"}}
    ]
    config = {
        "target": handshake(example.url("/mcp")),
        "flow": {"steps": steps, "discover": "seed"},
        "scenarios": vus(1, "1s"),
        "thresholds": {"checks{check:wrong}": ["rate>0.99"]},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "failed", text
    calls_made = phase(results, "tools/call")
    assert calls_made > 0
    assert count(results, "mcp_errors_check_failed") == calls_made
    assert results.metric("mcp_tool_errors", "rate") == 1.0
    assert results.metric("checks{check:wrong}", "rate") == 0.0
    assert "text_contains: 'rec_2' not in" in text


async def test_a_capture_that_finds_nothing_skips_the_rest(example: Server, log_path: Path, tmp_path: Path) -> None:
    steps = [
        {
            "tool": "search_records",
            "arguments": {"query": "no such body", "limit": 3},
            "capture": {"record_id": "$.structuredContent.result[0]"},
        },
        {"tool": "get_record", "arguments": {"id": "{{ vars.record_id }}"}},
        {"tool": "get_record", "arguments": {"id": "rec_1"}},
    ]
    config = {"target": handshake(example.url("/mcp")), "flow": {"steps": steps}, "scenarios": vus(2, "1s")}
    results, text = await run(plan_from(tmp_path, config))
    searches = phase(results, "tools/call")
    assert searches > 0
    assert count(results, "mcp_errors_capture_error") == searches
    assert Counter(c["tool"] for c in calls(log_path)) == {"search_records": searches}  # nothing else sent
    assert "capture record_id: $.structuredContent.result[0]: structuredContent.result has 0 item(s)" in text


async def test_weighted_flows_share_the_iterations(example: Server, log_path: Path, tmp_path: Path) -> None:
    flows = [
        {"name": "read", "weight": 3, "steps": [{"tool": "get_record", "arguments": {"id": "rec_1"}}]},
        {"name": "find", "weight": 1, "steps": [{"tool": "search_records", "arguments": {"query": "x", "limit": 1}}]},
    ]
    config = {
        "target": handshake(example.url("/mcp")),
        "flows": flows,
        "seed": 7,
        "flow": {"session": "per-vu", "discover": "none"},
        "scenarios": vus(4, "3s"),
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason + text
    tools = Counter(c["tool"] for c in calls(log_path))
    total = tools["get_record"] + tools["search_records"]
    assert total == count(results, "iterations") > 200
    assert 0.65 < tools["get_record"] / total < 0.85


@pytest.mark.parametrize(
    ("discover", "expected"),
    [
        ("auto", {"tools/list", "resources/list", "prompts/list"}),
        ("seed", {"tools/list"}),
        ("none", set()),
        (["prompts", "resource_templates"], {"prompts/list", "resources/templates/list"}),
    ],
)
async def test_discover_lists_what_it_says(
    example: Server, tmp_path: Path, discover: object, expected: set[str]
) -> None:
    steps = [{"ping": True}]
    config: dict[str, object] = {
        "target": handshake(example.url("/mcp")),
        "flow": {"steps": steps, "discover": discover},
        "scenarios": vus(1, "1s"),
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason + text
    lists = {"tools/list", "resources/list", "resources/templates/list", "prompts/list"}
    assert {row.name for row in results.phases if row.name in lists} == expected
    sessions = phase(results, "initialize")
    assert sessions == phase(results, "ping") > 3
    pages = {"resources/list": 2}  # the example server lists its three resources two to a page
    for method in expected:
        assert phase(results, method) == sessions * pages.get(method, 1)


@pytest.mark.parametrize("session", ["per-vu", "per-iteration"])
async def test_per_vu_sessions_keep_their_vars(example: Server, log_path: Path, tmp_path: Path, session: str) -> None:
    """Each iteration fetches the record the previous one's search found, when its session lives on;
    a new session starts with no vars (``vars.get`` reads one that may not be captured yet)."""
    steps = [
        {"tool": "get_record", "arguments": {"id": "{{ vars.get('last', 'rec_999') }}"}},
        {
            "tool": "search_records",
            "arguments": {"query": "body {{ vu * 100 + iteration }} ", "limit": 1},
            "capture": {"last": "$.structuredContent.result[0]"},
        },
    ]
    config = {
        "target": handshake(example.url("/mcp")),
        "flow": {"steps": steps, "session": session, "discover": "none"},
        "scenarios": vus(2, "1s"),
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason + text
    fetched = Counter(c["id"] for c in calls(log_path) if c["tool"] == "get_record")
    if session == "per-iteration":
        assert set(fetched) == {"rec_999"}
        return
    assert fetched["rec_999"] == 2  # each VU's session, once, before its first capture
    assert {"rec_100", "rec_101", "rec_200", "rec_201"} <= set(fetched)
    assert set(fetched) - {"rec_999"} <= {c["result"][0] for c in calls(log_path) if c["tool"] == "search_records"}


MIXUP_STEPS = [
    {
        "tool": "get_record",
        "name": "own answer",
        "arguments": {"id": "rec_{{ vu }}_{{ iteration }}"},
        "expect": {"json": {"$.structuredContent.id": "{{ args.id }}"}},
    }
]


async def test_answers_meant_for_another_session_fail_the_checks(mixup: MixupServer, tmp_path: Path) -> None:
    config = {
        "target": handshake(mixup.url),
        "flow": {"steps": MIXUP_STEPS, "discover": "seed"},
        "scenarios": vus(6, "2s"),
        "thresholds": {"checks{check:own answer}": ["rate>0.99"]},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert mixup.mixed > 0  # the server did mix them up
    assert results.run.status == "failed", text
    assert count(results, "mcp_errors_check_failed") > 0
    assert (results.metric("mcp_tool_errors", "rate") or 0) > 0
    assert "check_failed" in text
    # Without the check, the same answers all count as good: what the check is for.
    plain = {**config, "flow": {"tools": [{"name": "get_record", "arguments": {"id": "rec_{{ vu }}"}}]}}
    plain.pop("thresholds")
    unchecked, _ = await run(plan_from(tmp_path, plain))
    assert count(unchecked, "mcp_errors_check_failed") == 0
    assert unchecked.metric("mcp_tool_errors", "rate") == 0.0


async def test_the_same_checks_pass_against_the_example_server(example: Server, tmp_path: Path) -> None:
    steps = [{**MIXUP_STEPS[0], "arguments": {"id": "rec_{{ vu }}{{ iteration % 10 }}"}}]
    config = {
        "target": handshake(example.url("/mcp")),
        "flow": {"steps": steps, "discover": "seed"},
        "scenarios": vus(6, "2s"),
        "thresholds": {"checks{check:own answer}": ["rate>0.99"]},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason + text
    assert count(results, "mcp_errors_check_failed") == 0


async def test_the_steps_example_runs_clean(example: Server, log_path: Path, tmp_path: Path) -> None:
    config = ROOT / "examples" / "steps.yaml"
    ran = await run_cli(tmp_path, "-c", str(config), "--url", example.url("/mcp"), "--duration", "3s", "--vus", "3")
    assert ran.code == 0, ran.stdout + ran.stderr
    metrics = json.loads(ran.out.read_text())["metrics"]
    assert metrics["checks{check:fetch}"]["values"]["rate"] == 1
    # the captured id also reads as a resource and fills the summary prompt, both checked
    assert metrics["checks{check:resources/read expect}"]["values"]["rate"] == 1
    assert metrics["http_reqs{method:resources/read}"]["values"]["count"] > 0
    assert metrics["mcp_errors_check_failed"]["values"]["count"] == 0
    logged = calls(log_path)
    found = {record for c in logged if c["tool"] == "search_records" for record in c["result"][:1]}
    fetched = {c["id"] for c in logged if c["tool"] == "get_record"}
    assert fetched
    assert fetched <= found  # every fetch asked for an id a search returned


async def test_worker_processes_run_the_steps(example: Server, log_path: Path, tmp_path: Path) -> None:
    config = {"target": handshake(example.url("/mcp")), "flow": {"steps": CHAIN}, "scenarios": vus(4)}
    results, text = await run(plan_from(tmp_path, config), workers=2)
    assert results.run.status == "passed", results.run.reason + text
    assert results.run.workers == 2
    logged = calls(log_path)
    searched = {c["result"][0] for c in logged if c["tool"] == "search_records"}
    fetched = [c["id"] for c in logged if c["tool"] == "get_record"]
    assert len(fetched) > 10
    assert set(fetched) <= searched
    assert results.metric("checks{check:fetch}", "rate") == 1.0


async def test_a_step_whose_template_fails_is_not_sent(example: Server, log_path: Path, tmp_path: Path) -> None:
    steps = [
        {
            "tool": "search_records",
            "arguments": {"query": "body 7 ", "limit": 1},
            "capture": {"record_id": "$.structuredContent.result[0]"},
        },
        {"tool": "get_record", "arguments": {"id": "{{ vars.record_id.missing }}"}, "capture": {"t": "$.content"}},
        {"tool": "get_record", "arguments": {"id": "rec_1"}},
    ]
    config = {
        "target": handshake(example.url("/mcp")),
        "flow": {"steps": steps, "discover": "none"},
        "scenarios": vus(1, "1s"),
    }
    results, text = await run(plan_from(tmp_path, config))
    searches = Counter(c["tool"] for c in calls(log_path))
    assert set(searches) == {"search_records"}  # the failed render took its captures, and the rest, with it
    assert count(results, "template_errors") == searches["search_records"] > 0
    assert "has no attribute 'missing'" in text
