"""The client surface beyond tools against the example server (the official 2.x SDK) in every
transport, mode and era: resources (paged, a template), prompts, completion, logging, ping, a
raw method, progress counted per call, and a timeout that cancels the call on the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from mcpgate.metrics.recorder import MAX_NAMES, ErrorLog, Recorder
from mcpgate.metrics.registry import Metrics, tags_of
from mcpgate.protocol.http import HttpSettings, make_http
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.outcome import OK, Kind, Outcome
from mcpgate.protocol.records import CallOptions, Step, Target
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.surface import prompt_ref, resource_ref
from mcpgate.protocol.transport import Streams
from mcpgate.protocol.wire.pool import Pool
from tests import servers

SETTINGS = HttpSettings(timeout=10, connect_timeout=2)

# (server flags, endpoint path, transport, protocol version)
MODES = {
    "handshake-sse": ((), "/mcp", "streamable-http", "2025-11-25"),
    "handshake-json": (("--json",), "/mcp", "streamable-http", "2025-11-25"),
    "stateless": (("--stateless",), "/mcp", "streamable-http", "2025-06-18"),
    "legacy-sse": (("--transport", "sse"), "/sse", "sse", "2024-11-05"),
    "modern": ((), "/mcp", "streamable-http", "2026-07-28"),
    "modern-json": (("--stateless", "--json"), "/mcp", "streamable-http", "2026-07-28"),
}


@pytest.fixture(scope="module")
def example() -> Iterator[dict[str, servers.Server]]:
    """One example server per mode, started as the module needs it, stopped by PID at its end."""
    started: dict[str, servers.Server] = {}
    yield started
    for server in started.values():
        servers.stop(server)


@pytest.fixture
async def http() -> AsyncIterator[Pool]:
    async with make_http(SETTINGS) as pool:
        yield pool


class Run:
    """A session whose steps go to a real Recorder, as in a load run, and are kept for the test."""

    def __init__(self, http: Pool, url: str, transport: str, version: str) -> None:
        self.metrics = Metrics()
        self.recorder = Recorder(self.metrics, "s", ErrorLog())
        self.steps: list[Step] = []
        target = Target(url, transport, version, SETTINGS)
        self.mcp = McpSession(
            http, target, ids=IdSource(), sink=self.sink, streams=Streams(listen=None), meter=self.recorder
        )

    def sink(self, step: Step) -> None:
        self.steps.append(step)
        self.recorder.step(step)

    def count(self, metric: str, **tags: str) -> int:
        snap = self.metrics.trend_snapshot(metric, tags_of(**tags))
        return 0 if snap is None else snap.count

    def counter(self, metric: str, **tags: str) -> float:
        return self.metrics.counter_total(metric, tags_of(**tags)) or 0.0


def server_for(example: dict[str, servers.Server], mode: str) -> tuple[servers.Server, str, str, str]:
    flags, path, transport, version = MODES[mode]
    if mode not in example:
        port = servers.free_port()
        example[mode] = servers.start(servers.example_cmd(port, *flags), port)
    return example[mode], example[mode].url(path), transport, version


@pytest.fixture(params=sorted(MODES))
async def run(request: pytest.FixtureRequest, example: dict[str, servers.Server], http: Pool) -> AsyncIterator[Run]:
    _, url, transport, version = server_for(example, request.param)
    r = Run(http, url, transport, version)
    assert (await r.mcp.open()).ok, r.steps
    yield r
    await r.mcp.close()
    r.mcp.abandon()


async def test_resources_are_listed_page_by_page_and_read(run: Run) -> None:
    listed = await run.mcp.list_resources()
    assert listed.outcome.ok, listed.outcome
    assert listed.result is not None
    # The example server answers in pages of two: the three static resources take two pages.
    assert [r["uri"] for r in listed.result["resources"]] == ["records://stats", "records://readme", "records://schema"]
    assert [s.method for s in run.steps].count("resources/list") == 2
    templates = await run.mcp.list_resource_templates()
    assert templates.result is not None
    assert [t["uriTemplate"] for t in templates.result["resourceTemplates"]] == ["records://{id}"]
    read = await run.mcp.read_resource("records://rec_4")
    assert read.outcome.ok, read.outcome
    assert read.result is not None
    assert '"id": "rec_4"' in read.result["contents"][0]["text"]
    assert run.count("mcp_method_duration", method="resources/read", name="records://rec_4") == 1
    assert run.count("mcp_method_duration", method="resources/list") == 2
    missing = await run.mcp.read_resource("records://rec_nope")
    assert missing.outcome.kind is Kind.JSONRPC_ERROR
    assert run.counter("mcp_errors_jsonrpc_error", method="resources/read", name="records://rec_nope") == 1


async def test_prompts_and_completion(run: Run) -> None:
    listed = await run.mcp.list_prompts()
    assert listed.result is not None
    assert {p["name"] for p in listed.result["prompts"]} == {"summarize_record", "greeting"}
    got = await run.mcp.get_prompt("summarize_record", {"id": "rec_3"})
    assert got.outcome.ok, got.outcome
    assert got.result is not None
    assert "Summarize rec_3 (Record 3)" in got.result["messages"][0]["content"]["text"]
    assert got.step.name == "summarize_record"
    done = await run.mcp.complete(prompt_ref("summarize_record"), {"name": "id", "value": "rec_99"})
    assert done.result is not None
    assert done.result["completion"]["values"][:2] == ["rec_99", "rec_990"]
    by_template = await run.mcp.complete(resource_ref("records://{id}"), {"name": "id", "value": "rec_12"})
    assert by_template.result is not None
    assert "rec_123" in by_template.result["completion"]["values"]
    assert run.count("mcp_method_duration", method="prompts/get", name="summarize_record") == 1
    assert run.count("mcp_method_duration", method="completion/complete", name="summarize_record") == 1


async def test_logging_ping_and_a_raw_method(run: Run) -> None:
    level, ping = await run.mcp.set_log_level("info"), await run.mcp.ping()
    if run.mcp.modern:
        # 2026-07-28 removed both: sent, refused as no such method, and the step says why.
        for answer in (level, ping):
            assert (answer.outcome.kind, answer.outcome.code) == (Kind.JSONRPC_ERROR, -32601)
            assert answer.step.note.startswith("2026-07-28 has no ")
    else:
        assert level.outcome.ok, level.outcome
        assert ping.outcome.ok, ping.outcome
    raw = await run.mcp.raw("vendor/unknownThing", {"x": 1})
    assert (raw.outcome.kind, raw.outcome.code) == (Kind.JSONRPC_ERROR, -32601)
    assert run.counter("mcp_errors_jsonrpc_error", method="vendor/unknownThing") == 1
    same = await run.mcp.raw("tools/list")  # a method mcpgate knows, sent by name
    assert same.outcome.ok
    assert same.result is not None
    assert "get_record" in {t["name"] for t in same.result["tools"]}


async def test_progress_is_counted_per_call(run: Run) -> None:
    answer = await run.mcp.call_tool("count_slowly", {"steps": 3}, options=CallOptions(progress=True))
    assert answer.outcome.ok, answer.outcome
    # JSON responses have no stream to carry a request's notifications before its answer.
    json_only = "json" in run.mcp.target.url or answer.step.framing == "json"
    expected = 0 if json_only else 3
    assert answer.step.progress == expected
    assert run.counter("mcp_progress_notifications", tool="count_slowly") == expected
    plain = await run.mcp.call_tool("count_slowly", {"steps": 2})
    assert plain.step.progress == 0


async def test_a_call_past_its_timeout_is_cancelled_on_the_server(
    example: dict[str, servers.Server], http: Pool
) -> None:
    for mode in ("handshake-sse", "legacy-sse", "modern"):
        server, url, transport, version = server_for(example, mode)
        r = Run(http, url, transport, version)
        assert (await r.mcp.open()).ok
        slow = {"steps": 20, "delay": 0.5}
        answer = await r.mcp.call_tool("count_slowly", slow, options=CallOptions(timeout=0.4))
        assert answer.outcome.kind is Kind.TIMEOUT
        assert "0.4s (the request's own limit)" in answer.outcome.reason
        assert answer.step.cancelled
        assert r.counter("mcp_cancelled", method="tools/call", tool="count_slowly") == 1
        # The server's own log: the tool saw its request cancelled (notifications/cancelled, or the
        # 2026-07-28 request's stream closed), well before its ten seconds of work were done.
        async with asyncio.timeout(5):
            while "count_slowly cancelled" not in server.log.read_text(errors="replace"):  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.05)
        after = await r.mcp.call_tool("get_record", {"id": "rec_1"})
        assert after.outcome.ok  # the session goes on
        await r.mcp.close()
        r.mcp.abandon()
        server.log.write_text("")


async def test_subscribe_then_updates_are_counted(example: dict[str, servers.Server], http: Pool) -> None:
    _, url, transport, version = server_for(example, "handshake-sse")
    r = Run(http, url, transport, version)
    assert (await r.mcp.open()).ok
    assert (await r.mcp.subscribe("records://rec_5")).outcome.ok
    for _ in range(3):
        assert (await r.mcp.call_tool("touch_record", {"id": "rec_5"})).outcome.ok
    assert (await r.mcp.unsubscribe("records://rec_5")).outcome.ok
    assert (await r.mcp.call_tool("touch_record", {"id": "rec_5"})).outcome.ok  # no longer subscribed
    async with asyncio.timeout(5):
        while r.mcp.server_messages["notifications/resources/updated"] < 3:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert r.mcp.server_messages["notifications/resources/updated"] == 3
    assert r.counter("mcp_server_notifications", method="notifications/resources/updated") == 3
    await r.mcp.close()
    r.mcp.abandon()


def test_method_names_are_bounded_per_method() -> None:
    metrics = Metrics()
    recorder = Recorder(metrics, "s", ErrorLog())
    for i in range(MAX_NAMES + 20):
        recorder.step(Step("resources/read", OK, 0.001, 200, name=f"records://rec_{i}"))
        recorder.step(Step("resources/read", Outcome(Kind.TIMEOUT, "slow"), 0.001, None, name=f"records://rec_{i}"))
    names = {dict(s)["name"] for n, s in metrics.series if n == "mcp_method_duration"}
    assert len(names) == MAX_NAMES + 1
    assert "other" in names
    other = metrics.trend_snapshot("mcp_method_duration", tags_of(name="other"))
    assert other is not None
    assert other.count == 40
    errors = {dict(s)["name"] for n, s in metrics.series if n == "mcp_errors_timeout" and dict(s).get("name")}
    assert len(errors) == MAX_NAMES + 1
    # Another method has its own fifty.
    recorder.step(Step("prompts/get", OK, 0.001, 200, name="p"))
    assert metrics.trend_snapshot("mcp_method_duration", tags_of(method="prompts/get", name="p")) is not None


async def test_a_label_names_the_step_instead(example: dict[str, servers.Server], http: Pool) -> None:
    _, url, transport, version = server_for(example, "handshake-json")
    r = Run(http, url, transport, version)
    assert (await r.mcp.open()).ok
    assert (await r.mcp.read_resource("records://rec_8", label="one record")).outcome.ok
    assert (await r.mcp.call_tool("get_record", {"id": "rec_8"}, label="fetch")).outcome.ok
    assert (await r.mcp.call_tool("get_record", {"id": "rec_9"})).outcome.ok
    assert r.count("mcp_method_duration", method="resources/read", name="one record") == 1
    assert r.count("mcp_method_duration", method="tools/call", name="fetch") == 1
    assert r.count("mcp_method_duration", method="tools/call", name="get_record") == 1
    assert r.count("mcp_tool_duration", tool="get_record") == 2  # the tool's own series, whatever the label
    await r.mcp.close()
    r.mcp.abandon()
