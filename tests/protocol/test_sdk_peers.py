"""The client against real servers: the official SDKs (2.x in every mode, the last 1.x) and the
TypeScript everything server, each started on 127.0.0.1 by the tests."""

from __future__ import annotations

import pytest

from mcpgate.app.probe import ProbeReport, run_probe
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.protocol.outcome import Kind
from mcpgate.protocol.versions import HANDSHAKE_VERSIONS
from tests.conftest import PeerFactory

SETTINGS = HttpSettings(timeout=10, connect_timeout=2)
EXAMPLE_TOOLS = {
    "get_record",
    "search_records",
    "fetch_external_data",
    "summarize_with_llm",
    "confirm_action",
    "list_client_roots",
}


def methods(report: ProbeReport) -> list[str]:
    return [s.method for s in report.steps if not s.fallback]


def framings(report: ProbeReport) -> set[str | None]:
    return {s.framing for s in report.steps if s.method in ("initialize", "tools/list", "tools/call")}


@pytest.mark.parametrize(
    ("mode", "framing", "stateful"),
    [
        ("stateful-sse", "sse", True),
        ("stateful-json", "json", True),
        ("stateless-sse", "sse", False),
        ("stateless-json", "json", False),
    ],
)
async def test_handshake_era_in_every_sdk_mode(peer: PeerFactory, mode: str, framing: str, stateful: bool) -> None:
    spec = ConnectSpec(peer(mode), "streamable-http", "2025-11-25", SETTINGS)
    report = await run_probe(spec, call="get_record", arguments={"id": "rec_42"})
    assert report.ok, report.steps
    expected = ["initialize", "notifications/initialized", "tools/list", "tools/call"]
    # Only a stateful server hands out a session id, so only then is there a session to end.
    assert methods(report) == [*expected, "session/delete"] if stateful else expected
    assert framings(report) == {framing}
    assert (report.transport, report.protocol_version) == ("streamable-http", "2025-11-25")
    assert report.server_info == {"name": "mcpgate-example", "version": "1.0.0"}
    assert set(report.tools) >= EXAMPLE_TOOLS


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18"])
async def test_older_handshake_versions_are_negotiated(peer: PeerFactory, version: str) -> None:
    report = await run_probe(
        ConnectSpec(peer("stateful-json"), "streamable-http", version, SETTINGS),
        call="get_record",
        arguments={"id": "rec_1"},
    )
    assert report.ok, report.steps
    assert report.protocol_version == version


@pytest.mark.parametrize("mode", ["stateful-sse", "stateful-json", "stateless-sse", "stateless-json"])
async def test_auto_picks_2026_07_28_on_the_2x_sdk(peer: PeerFactory, mode: str) -> None:
    # get_record's id is marked x-mcp-header: the SDK rejects the call unless Mcp-Param-Record-Id matches.
    report = await run_probe(ConnectSpec(peer(mode), settings=SETTINGS), call="get_record", arguments={"id": "rec_7"})
    assert report.ok, report.steps
    assert methods(report) == ["server/discover", "tools/list", "tools/call"]
    assert (report.transport, report.protocol_version) == ("streamable-http", "2026-07-28")
    assert report.server_info == {"name": "mcpgate-example", "version": "1.0.0"}
    assert "server/discover answered" in report.chosen


async def test_2026_07_28_tool_error_and_unknown_tool(peer: PeerFactory) -> None:
    spec = ConnectSpec(peer("stateless-json"), "streamable-http", "2026-07-28", SETTINGS)
    report = await run_probe(spec, call="get_record", arguments={"id": "no-such-record"})
    step = report.failed_step
    assert step is not None
    assert (step.outcome.kind, step.tool) == (Kind.TOOL_ERROR, "get_record")
    assert step.outcome.reason == "Error executing tool get_record"
    report = await run_probe(spec, call="nope")
    assert report.failed_step is not None
    assert report.failed_step.outcome.kind is Kind.TOOL_ERROR


async def test_auto_finds_legacy_sse(peer: PeerFactory) -> None:
    report = await run_probe(
        ConnectSpec(peer("legacy-sse"), settings=SETTINGS), call="search_records", arguments={"query": "test"}
    )
    assert report.ok, report.steps
    assert report.transport == "sse"
    assert methods(report) == ["sse/connect", "initialize", "notifications/initialized", "tools/list", "tools/call"]
    tried = [(s.method, s.http_status) for s in report.steps if s.fallback]
    assert tried == [("server/discover", 405), ("initialize", 405)]


async def test_explicit_legacy_sse_skips_negotiation(peer: PeerFactory) -> None:
    report = await run_probe(ConnectSpec(peer("legacy-sse"), "sse", "2024-11-05", SETTINGS))
    assert report.ok, report.steps
    assert report.protocol_version == "2024-11-05"
    assert not [s for s in report.steps if s.fallback]


async def test_expected_version_is_enforced(peer: PeerFactory) -> None:
    ok = await run_probe(ConnectSpec(peer("stateful-json"), "streamable-http", "2025-11-25", SETTINGS, "2025-11-25"))
    assert ok.ok
    # auto negotiates 2026-07-28 with this server: an expectation of 2025-11-25 fails, by name.
    bad = await run_probe(ConnectSpec(peer("stateful-json"), settings=SETTINGS, expect_version="2025-11-25"))
    assert not bad.ok
    assert bad.outcome.kind is Kind.PROTOCOL_ERROR
    assert bad.outcome.reason == "server negotiated 2026-07-28, expected 2025-11-25"


async def test_auto_falls_back_to_initialize_on_the_1x_sdk(peer: PeerFactory) -> None:
    report = await run_probe(
        ConnectSpec(peer("v1-stateful"), settings=SETTINGS), call="get_record", arguments={"id": "x"}
    )
    assert report.ok, report.steps
    assert [s.method for s in report.steps if s.fallback] == ["server/discover"]
    assert methods(report)[:2] == ["initialize", "notifications/initialized"]
    assert methods(report)[-1] == "session/delete"
    assert report.protocol_version in HANDSHAKE_VERSIONS
    assert report.transport == "streamable-http"


async def test_1x_stateless_json(peer: PeerFactory) -> None:
    report = await run_probe(
        ConnectSpec(peer("v1-stateless-json"), settings=SETTINGS), call="search_records", arguments={"query": "q"}
    )
    assert report.ok, report.steps
    assert framings(report) == {"json"}


async def test_auto_finds_legacy_sse_on_the_1x_sdk(peer: PeerFactory) -> None:
    report = await run_probe(ConnectSpec(peer("v1-sse"), settings=SETTINGS), call="get_record", arguments={"id": "x"})
    assert report.ok, report.steps
    assert report.transport == "sse"


async def test_typescript_streamable_server(peer: PeerFactory) -> None:
    report = await run_probe(
        ConnectSpec(peer("ts-streamable"), settings=SETTINGS), call="echo", arguments={"message": "hi"}
    )
    assert report.ok, report.steps
    fallback = [s for s in report.steps if s.fallback]
    assert [(s.method, s.http_status) for s in fallback] == [("server/discover", 400)]
    assert report.transport == "streamable-http"
    assert methods(report)[-1] == "session/delete"
    assert "echo" in report.tools


async def test_typescript_legacy_sse_server(peer: PeerFactory) -> None:
    report = await run_probe(ConnectSpec(peer("ts-sse"), settings=SETTINGS), call="echo", arguments={"message": "hi"})
    assert report.ok, report.steps
    assert report.transport == "sse"
    assert report.server_info is not None
