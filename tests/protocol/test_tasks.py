"""Task-augmented tools/call (2025-11-25 tasks) against the TypeScript everything server, whose
``simulate-research-query`` requires tasks and takes four stages of a second each: created,
polled at the server's pollInterval, its result fetched and measured from the call to the end.
Where tasks are not offered (the example server) or the tool forbids them, a plain call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mcpgate.protocol.http import make_http
from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.records import CallOptions
from mcpgate.protocol.wire.pool import Pool
from tests.conftest import PeerFactory
from tests.protocol.test_surface import SETTINGS, Run

TASK = CallOptions(task=True)
TRANSPORTS = {"ts-streamable": "streamable-http", "ts-sse": "sse"}
RESEARCH = "simulate-research-query"


@pytest.fixture
async def http() -> AsyncIterator[Pool]:
    async with make_http(SETTINGS) as pool:
        yield pool


async def opened(http: Pool, url: str, transport: str) -> Run:
    r = Run(http, url, transport, "2025-11-25")
    assert (await r.mcp.open()).ok, r.steps
    assert (await r.mcp.list_tools()).ok
    return r


@pytest.mark.parametrize("mode", sorted(TRANSPORTS))
async def test_a_task_is_polled_to_completion_and_measured(peer: PeerFactory, http: Pool, mode: str) -> None:
    r = await opened(http, peer(mode), TRANSPORTS[mode])
    assert r.mcp.tools[RESEARCH].task_support == "required"
    assert r.mcp.task_refusal(RESEARCH) is None
    answer = await r.mcp.call_tool(RESEARCH, {"topic": "load testing"}, options=TASK)
    assert answer.outcome.ok, answer.outcome
    assert answer.result is not None
    assert "# Research Report: load testing" in answer.result["content"][0]["text"]
    methods = [s.method for s in r.steps if s.name == RESEARCH]
    # Created, then tasks/get about once a second (the server's pollInterval) until completed, then the result.
    assert methods[0] == "tools/call"
    assert methods[-1] == "tasks/result"
    polls = methods.count("tasks/get")
    assert 2 <= polls <= 6, methods
    assert answer.step.method == "tasks/result"
    assert answer.step.task_duration is not None
    assert 3.5 < answer.step.task_duration < 8  # four stages of a second each
    task = r.metrics.trend_snapshot("mcp_task_duration", (("tool", RESEARCH),))
    assert task is not None
    assert task.count == 1
    assert task.min > 3500
    assert r.count("mcp_method_duration", method="tasks/get", name=RESEARCH) == polls
    await r.mcp.close()
    r.mcp.abandon()


async def test_a_task_past_its_limit_is_cancelled(peer: PeerFactory, http: Pool) -> None:
    r = await opened(http, peer("ts-streamable"), "streamable-http")
    answer = await r.mcp.call_tool(RESEARCH, {"topic": "x"}, options=CallOptions(task=True, timeout=1.5))
    assert answer.outcome.kind is Kind.TIMEOUT
    assert "tasks/cancel sent" in answer.outcome.reason
    cancel = next(s for s in r.steps if s.method == "tasks/cancel")
    assert cancel.outcome.ok, cancel.outcome
    assert r.counter("mcp_cancelled", method="tasks/cancel", tool=RESEARCH) == 1
    assert r.counter("mcp_errors_timeout", method="tasks/result", tool=RESEARCH) == 1
    await r.mcp.close()
    r.mcp.abandon()


async def test_a_tool_that_forbids_tasks_gets_a_plain_call(peer: PeerFactory, http: Pool) -> None:
    r = await opened(http, peer("ts-streamable"), "streamable-http")
    answer = await r.mcp.call_tool("echo", {"message": "hi"}, options=TASK)
    assert answer.outcome.ok, answer.outcome
    assert answer.step.method == "tools/call"
    assert answer.step.note == "tool echo does not support tasks (execution.taskSupport): a plain call"
    assert not any(s.method.startswith("tasks/") for s in r.steps)
    await r.mcp.close()
    r.mcp.abandon()


async def test_a_server_without_tasks_gets_a_plain_call(peer: PeerFactory, http: Pool) -> None:
    r = await opened(http, peer("stateful-sse"), "streamable-http")
    answer = await r.mcp.call_tool("get_record", {"id": "rec_2"}, options=TASK)
    assert answer.outcome.ok, answer.outcome
    assert answer.step.note == "the server offers no tasks for tools/call: a plain call"
    assert r.metrics.trend_snapshot("mcp_task_duration") is None
    await r.mcp.close()
    r.mcp.abandon()
