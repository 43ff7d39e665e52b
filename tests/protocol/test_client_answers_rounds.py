"""2026-07-28's input_required rounds against a server of our own that asks in raw bytes: the
retries carry the answers under the server's keys and its requestState verbatim, the call is one
step over all rounds, and a server that never completes, or asks for what was not declared,
fails as a protocol error after a bounded number of requests."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from mcpgate.config.client import ClientConfig
from mcpgate.protocol.client_side import MAX_INPUT_ROUNDS
from mcpgate.protocol.http import HttpSettings, make_http
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.modern import CLIENT_CAPABILITIES_KEY
from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.records import Step, Target
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.session_exchange import Answer
from mcpgate.workload.client_answers import client_answers
from tests.conformance.mcpraw import rpc
from tests.conformance.rawserver import RawConn, RawRequest, response, serving

SETTINGS = HttpSettings(timeout=5, connect_timeout=2)
DISCOVER = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}, "resultType": "complete"}
SAMPLE = {
    "method": "sampling/createMessage",
    "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}], "maxTokens": 5},
}
ROOTS = {"method": "roots/list", "params": {}}

Decide = Callable[[dict[str, Any]], dict[str, Any]]


def modern_server(decide: Decide) -> Callable[[RawConn], Awaitable[None]]:
    """server/discover answered; every tools/call's result is ``decide(params)``."""

    async def case(conn: RawConn) -> None:
        while (req := await conn.request()) is not None:
            message = rpc(req)
            params: Any = message.get("params") or {}
            value = DISCOVER if message.get("method") == "server/discover" else decide(params)
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": value}).encode()
            conn.send(response(200, body, "Content-Type: application/json"))

    return case


def calls(requests: list[RawRequest]) -> list[dict[str, Any]]:
    found = [rpc(r) for r in requests if r.body]
    return [m["params"] for m in found if m.get("method") == "tools/call"]  # type: ignore[misc]


async def call_once(url: str, client: dict[str, Any]) -> tuple[Answer, list[Step]]:
    target = Target(
        url, "streamable-http", "2026-07-28", SETTINGS, client=client_answers(ClientConfig.model_validate(client))
    )
    steps: list[Step] = []
    async with make_http(SETTINGS) as pool:
        session = McpSession(pool, target, ids=IdSource(), sink=steps.append)
        assert (await session.open()).ok, steps
        answer = await session.call_tool("ask", {"x": 1})
        await session.close()
    return answer, steps


def two_rounds(params: dict[str, Any]) -> dict[str, Any]:
    """Sampling first, then roots, then a result built from both answers."""
    state, responses = params.get("requestState"), params.get("inputResponses") or {}
    if state is None:
        return {"resultType": "input_required", "inputRequests": {"s1": SAMPLE}, "requestState": "round-1"}
    if state == "round-1":
        text = responses["s1"]["content"]["text"]
        return {"resultType": "input_required", "inputRequests": {"r1": ROOTS}, "requestState": f"round-2:{text}"}
    uris = [root["uri"] for root in responses["r1"]["roots"]]
    return {"resultType": "complete", "content": [{"type": "text", "text": f"{state}|{','.join(uris)}"}]}


async def test_rounds_carry_the_answers_and_the_state_and_make_one_step() -> None:
    client = {
        "sampling": {"text": "said {{ request.messages[0].content.text }}", "delay": "50ms"},
        "roots": [{"uri": "file:///a"}],
    }
    with serving(modern_server(two_rounds)) as server:
        answer, steps = await call_once(server.url(), client)
        sent = calls(server.requests)
    assert answer.outcome.ok, answer.step
    assert answer.result is not None
    assert answer.result["content"][0]["text"] == "round-2:said hi|file:///a"
    assert [s.method for s in steps].count("tools/call") == 1
    assert answer.step.duration >= 0.05  # the sampling delay is inside the call's time
    assert len(sent) == 3
    assert "inputResponses" not in sent[0]
    assert sent[1]["requestState"] == "round-1"
    assert sent[1]["inputResponses"]["s1"]["model"] == "mcpgate-sampler"
    assert sent[2]["inputResponses"] == {"r1": {"roots": [{"uri": "file:///a"}]}}
    assert all(p["arguments"] == {"x": 1} for p in sent)
    assert sent[0]["_meta"][CLIENT_CAPABILITIES_KEY] == {"sampling": {}, "roots": {}}


async def test_a_server_that_never_completes_is_cut_off() -> None:
    def forever(params: dict[str, Any]) -> dict[str, Any]:
        return {"resultType": "input_required", "inputRequests": {"again": ROOTS}, "requestState": "more"}

    with serving(modern_server(forever)) as server:
        answer, _ = await call_once(server.url(), {"roots": []})
        sent = calls(server.requests)
    assert answer.outcome.kind is Kind.PROTOCOL_ERROR
    assert f"after {MAX_INPUT_ROUNDS} rounds" in answer.outcome.reason
    assert len(sent) == MAX_INPUT_ROUNDS + 1


async def test_input_not_declared_for_is_a_protocol_error_and_not_answered() -> None:
    def elicit(params: dict[str, Any]) -> dict[str, Any]:
        return {"resultType": "input_required", "inputRequests": {"e": {"method": "elicitation/create", "params": {}}}}

    with serving(modern_server(elicit)) as server:
        answer, _ = await call_once(server.url(), {"sampling": {}})
        sent = calls(server.requests)
    assert answer.outcome.kind is Kind.PROTOCOL_ERROR
    assert "elicitation/create" in answer.outcome.reason
    assert "declared no capability" in answer.outcome.reason
    assert len(sent) == 1
    assert sent[0]["_meta"][CLIENT_CAPABILITIES_KEY] == {"sampling": {}}
