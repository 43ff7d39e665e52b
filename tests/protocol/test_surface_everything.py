"""The client surface against the TypeScript "everything" server (the official TS SDK), in both
of its HTTP modes: resources, templates, prompts with arguments, completion with context,
logging, ping, a raw method, a subscription whose updates are counted, and progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mcpgate.protocol.http import make_http
from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.records import CallOptions
from mcpgate.protocol.surface import prompt_ref, resource_ref
from mcpgate.protocol.wire.pool import Pool
from tests.conftest import PeerFactory
from tests.protocol.test_surface import SETTINGS, Run

TRANSPORTS = {"ts-streamable": "streamable-http", "ts-sse": "sse"}
TEMPLATE = "demo://resource/dynamic/text/{resourceId}"


@pytest.fixture
async def http() -> AsyncIterator[Pool]:
    async with make_http(SETTINGS) as pool:
        yield pool


@pytest.fixture(params=sorted(TRANSPORTS))
async def run(request: pytest.FixtureRequest, peer: PeerFactory, http: Pool) -> AsyncIterator[Run]:
    r = Run(http, peer(request.param), TRANSPORTS[request.param], "2025-11-25")
    assert (await r.mcp.open()).ok, r.steps
    yield r
    await r.mcp.close()
    r.mcp.abandon()


async def test_resources_templates_and_reads(run: Run) -> None:
    listed = await run.mcp.list_resources()
    assert listed.result is not None
    uris = [r["uri"] for r in listed.result["resources"]]
    assert any(u.startswith("demo://resource/static/document/") for u in uris)
    templates = await run.mcp.list_resource_templates()
    assert templates.result is not None
    assert TEMPLATE in [t["uriTemplate"] for t in templates.result["resourceTemplates"]]
    read = await run.mcp.read_resource("demo://resource/dynamic/text/3")
    assert read.result is not None
    assert read.result["contents"][0]["text"].startswith("Resource 3: ")
    static = await run.mcp.read_resource(uris[0])
    assert static.outcome.ok, static.outcome
    assert run.count("mcp_method_duration", method="resources/read", name="demo://resource/dynamic/text/3") == 1


async def test_prompts_with_arguments_and_completion(run: Run) -> None:
    listed = await run.mcp.list_prompts()
    assert listed.result is not None
    assert {"simple-prompt", "args-prompt", "completable-prompt"} <= {p["name"] for p in listed.result["prompts"]}
    got = await run.mcp.get_prompt("args-prompt", {"city": "Paris", "state": "TX"})
    assert got.result is not None
    assert got.result["messages"][0]["content"]["text"] == "What's weather in Paris, TX?"
    department = await run.mcp.complete(prompt_ref("completable-prompt"), {"name": "department", "value": "S"})
    assert department.result is not None
    assert department.result["completion"]["values"] == ["Sales", "Support"]
    # The second argument completes from the first: the context carries it.
    context = {"arguments": {"department": "Sales"}}
    member = await run.mcp.complete(prompt_ref("completable-prompt"), {"name": "name", "value": ""}, context=context)
    assert member.result is not None
    assert member.result["completion"]["values"]
    by_template = await run.mcp.complete(resource_ref(TEMPLATE), {"name": "resourceId", "value": "4"})
    assert by_template.result is not None
    assert by_template.result["completion"]["values"] == ["4"]
    assert run.count("mcp_method_duration", method="completion/complete", name="completable-prompt") == 2


async def test_logging_ping_raw_and_progress(run: Run) -> None:
    assert (await run.mcp.set_log_level("debug")).outcome.ok
    assert (await run.mcp.ping()).outcome.ok
    raw = await run.mcp.raw("vendor/unknownThing")
    assert (raw.outcome.kind, raw.outcome.code) == (Kind.JSONRPC_ERROR, -32601)
    args = {"duration": 1, "steps": 4}
    answer = await run.mcp.call_tool("trigger-long-running-operation", args, options=CallOptions(progress=True))
    assert answer.outcome.ok, answer.outcome
    assert answer.step.progress == 4
    assert run.counter("mcp_progress_notifications", tool="trigger-long-running-operation") == 4
    assert run.count("mcp_method_duration", method="tools/call", name="trigger-long-running-operation") == 1


async def test_a_timeout_cancels(run: Run) -> None:
    args = {"duration": 3, "steps": 3}
    answer = await run.mcp.call_tool("trigger-long-running-operation", args, options=CallOptions(timeout=0.3))
    assert answer.outcome.kind is Kind.TIMEOUT
    assert answer.step.cancelled
    assert answer.step.note == "timed out: cancelled (notifications/cancelled sent)"
    assert run.counter("mcp_cancelled", method="tools/call") == 1
    assert (await run.mcp.ping()).outcome.ok  # the session goes on


async def test_subscribe_then_updates_are_counted(run: Run) -> None:
    uri = "demo://resource/dynamic/text/1"
    assert (await run.mcp.subscribe(uri)).outcome.ok
    assert run.count("mcp_method_duration", method="resources/subscribe", name=uri) == 1
    # The server sends an update for each subscription at once, then every five seconds.
    assert (await run.mcp.call_tool("toggle-subscriber-updates", {})).outcome.ok
    async with asyncio.timeout(5):
        while run.mcp.server_messages["notifications/resources/updated"] < 1:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.02)
    assert run.counter("mcp_server_notifications", method="notifications/resources/updated") >= 1
    assert (await run.mcp.call_tool("toggle-subscriber-updates", {})).outcome.ok  # and off again
    assert (await run.mcp.unsubscribe(uri)).outcome.ok
