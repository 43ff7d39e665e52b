"""Server requests answered as ``client:`` configures them, against real servers: the example
server's tools that ask for sampling, elicitation and roots (a request on a stream before
2026-07-28, an input_required round on it), in every transport and mode, and the TypeScript
everything server's. Capabilities are declared only for what is configured."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcpgate.config.client import ClientConfig
from mcpgate.protocol.http import HttpSettings, make_http
from mcpgate.protocol.jsonrpc import IdSource, JSONObject
from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.records import Step, Target
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.session_exchange import Answer
from mcpgate.protocol.transport import Streams
from mcpgate.workload.client_answers import client_answers
from tests.conftest import PeerFactory

SETTINGS = HttpSettings(timeout=10, connect_timeout=2)
EVERYTHING = {
    "sampling": {"text": "canned: {{ request.messages[-1].content.text }}", "model": "load-llm", "delay": "5ms..20ms"},
    "elicitation": {"action": "accept", "content": {"name": "load test {{ randint(1, 1) }}", "confirmed": True}},
    "roots": [{"uri": "file:///srv/project", "name": "project"}, {"uri": "file:///srv/data"}],
}

# (peer mode, transport, version): every way the example server can ask. Before 2026-07-28 the
# SDK asks only where a stream leads back to the client: stateful SSE responses and legacy SSE.
WAYS = [
    ("stateful-sse", "streamable-http", "2025-11-25"),
    ("legacy-sse", "sse", "2025-11-25"),
    ("legacy-sse", "sse", "2024-11-05"),
    ("stateful-sse", "streamable-http", "2026-07-28"),
    ("stateful-json", "streamable-http", "2026-07-28"),
    ("stateless-sse", "streamable-http", "2026-07-28"),
    ("stateless-json", "streamable-http", "2026-07-28"),
]


@contextlib.asynccontextmanager
async def opened(
    url: str, transport: str, version: str, client: dict[str, Any] | None, listen: bool | None = None
) -> AsyncIterator[McpSession]:
    """An open session that has listed the tools; ``client`` is the ``client:`` config."""
    answers = client_answers(ClientConfig.model_validate(client)) if client is not None else None
    target = Target(url, transport, version, SETTINGS, client=answers)
    steps: list[Step] = []
    async with make_http(SETTINGS) as pool:
        session = McpSession(pool, target, ids=IdSource(), sink=steps.append, streams=Streams(listen=listen))
        try:
            assert (await session.open()).ok, steps
            assert (await session.list_tools()).ok, steps
            yield session
        finally:
            await session.close()


async def calls(url: str, transport: str, version: str, client: dict[str, Any] | None, *todo: Any) -> list[Answer]:
    async with opened(url, transport, version, client) as session:
        return [await session.call_tool(tool, arguments) for tool, arguments in todo]


def structured(answer: Answer) -> Any:
    assert answer.outcome.ok, answer.step
    assert answer.result is not None
    return answer.result["structuredContent"]


@pytest.mark.parametrize(("mode", "transport", "version"), WAYS)
async def test_sampling_elicitation_and_roots_answered_everywhere(
    peer: PeerFactory, mode: str, transport: str, version: str
) -> None:
    sampled, confirmed, roots = await calls(
        peer(mode),
        transport,
        version,
        EVERYTHING,
        ("summarize_with_llm", {"topic": "records"}),
        ("confirm_action", {"action_name": "deploy"}),
        ("list_client_roots", {}),
    )
    assert structured(sampled) == {
        "topic": "records",
        "model": "load-llm",
        "text": "canned: Summarize records",
        "stop_reason": "endTurn",
    }
    assert structured(confirmed) == {"action": "accept", "name": "load test 1", "confirmed": True}
    assert structured(roots) == {
        "result": [{"uri": "file:///srv/project", "name": "project"}, {"uri": "file:///srv/data", "name": None}]
    }
    if version == "2026-07-28":  # one tools/call step, measured over its rounds
        assert [s.method for s in (sampled.step, confirmed.step, roots.step)] == ["tools/call"] * 3


@pytest.mark.parametrize("mode", ["stateful-json", "stateless-sse", "stateless-json"])
async def test_handshake_era_without_a_way_back_is_the_servers_own_error(peer: PeerFactory, mode: str) -> None:
    """JSON responses or no session: the SDK has no stream to ask on before 2026-07-28 and says so;
    the call fails with its answer, not with a timeout of ours."""
    (answer,) = await calls(
        peer(mode), "streamable-http", "2025-11-25", EVERYTHING, ("summarize_with_llm", {"topic": "x"})
    )
    assert answer.outcome.kind is Kind.JSONRPC_ERROR
    assert "back-channel" in answer.outcome.reason


@pytest.mark.parametrize("action", ["decline", "cancel"])
@pytest.mark.parametrize(("mode", "version"), [("stateful-sse", "2025-11-25"), ("stateless-json", "2026-07-28")])
async def test_elicitation_declined_or_cancelled(peer: PeerFactory, mode: str, version: str, action: str) -> None:
    (answer,) = await calls(
        peer(mode),
        "streamable-http",
        version,
        {"elicitation": {"action": action}},
        ("confirm_action", {"action_name": "deploy"}),
    )
    assert structured(answer) == {"action": action, "for": "deploy"}


@pytest.mark.parametrize(("mode", "version"), [("stateful-sse", "2025-11-25"), ("stateless-json", "2026-07-28")])
async def test_capabilities_only_for_what_is_configured(peer: PeerFactory, mode: str, version: str) -> None:
    """Roots alone: the server sees no sampling capability, so its sampling tool fails as it
    would without ``client:``; the roots tool works."""
    url = peer(mode)
    plain, roots_only = await calls(
        url, "streamable-http", version, None, ("summarize_with_llm", {"topic": "x"}), ("list_client_roots", {})
    )
    assert not plain.outcome.ok
    assert not roots_only.outcome.ok  # nothing declared: no roots either
    sampled, roots = await calls(
        url,
        "streamable-http",
        version,
        {"roots": []},
        ("summarize_with_llm", {"topic": "x"}),
        ("list_client_roots", {}),
    )
    assert not sampled.outcome.ok
    assert "sampling" in sampled.outcome.reason
    assert structured(roots) == {"result": []}


def texts(answer: Answer) -> str:
    assert answer.outcome.ok, answer.step
    result: JSONObject | None = answer.result
    assert result is not None
    return "\n".join(block.get("text", "") for block in result["content"])


@pytest.mark.parametrize("mode", ["ts-streamable", "ts-sse"])
async def test_everything_server_gets_its_answers(peer: PeerFactory, mode: str) -> None:
    url = peer(mode)
    transport = "sse" if mode == "ts-sse" else "streamable-http"
    # The everything server asks for roots on its own stream, outside any call: the GET stream is held.
    async with opened(url, transport, "2025-11-25", EVERYTHING, listen=True) as session:
        assert {"trigger-sampling-request", "trigger-elicitation-request", "get-roots-list"} <= set(session.tools)
        sampled = await session.call_tool("trigger-sampling-request", {"prompt": "hello", "maxTokens": 10})
        elicited = await session.call_tool("trigger-elicitation-request", {})
        roots = await session.call_tool("get-roots-list", {})
        counted = dict(session.server_messages)
    assert '"model": "load-llm"' in texts(sampled)
    assert "canned: " in texts(sampled)
    assert "hello" in texts(sampled)
    assert "Name: load test 1" in texts(elicited)
    assert "1. project" in texts(roots)
    assert "URI: file:///srv/project" in texts(roots)
    assert {"sampling/createMessage", "elicitation/create", "roots/list"} <= set(counted)


async def test_everything_server_hides_its_client_tools_without_client(peer: PeerFactory) -> None:
    async with opened(peer("ts-streamable"), "streamable-http", "2025-11-25", None) as session:
        tools = set(session.tools)
    assert not {"trigger-sampling-request", "trigger-elicitation-request", "get-roots-list"} & tools


@pytest.mark.parametrize(("mode", "version"), [("stateful-sse", "2025-11-25"), ("stateless-json", "2026-07-28")])
async def test_an_answer_that_cannot_be_made_fails_the_call_at_once(peer: PeerFactory, mode: str, version: str) -> None:
    """A template that fails over the server's request: the server hears an error (or, on
    2026-07-28, the call ends), instead of waiting out its timeout."""
    broken = {"sampling": {"text": "{{ request.nothing.here }}"}}
    (answer,) = await calls(peer(mode), "streamable-http", version, broken, ("summarize_with_llm", {"topic": "x"}))
    assert not answer.outcome.ok
    assert answer.outcome.kind is not Kind.TIMEOUT
    assert answer.step.duration < 5
    assert "mcpgate could not answer sampling/createMessage: client.sampling.text:" in answer.outcome.reason
