"""``mcpgate smoke`` against the official SDK example server and the fault server, on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from mcpgate.app.postdeploy.smoke import render_smoke_markdown, render_smoke_text, run_smoke, smoke_dict
from mcpgate.doors import cli
from mcpgate.doors.postdeploy import register
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.support import exitcodes
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor
from tests.conftest import PeerFactory
from tests.faultserver import FaultServer
from tests.servers import free_port

INTERVAL = 0.03
SDK_TOOLS = ["get_record", "search_records", "fetch_external_data"]


def spec(url: str, version: str = "auto") -> ConnectSpec:
    return ConnectSpec(url, version=version, settings=HttpSettings(timeout=5, connect_timeout=2))


# mode, protocol version asked for -> (transport, era's opening steps, closing steps)
MODES = {
    "stateful-sse": ("auto", "2026-07-28", ["server/discover"], []),
    "stateful-json": ("2025-11-25", "2025-11-25", ["initialize", "notifications/initialized"], ["session/delete"]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("call", "arguments", "called"),
    [("auto", None, "get_record"), ("search_records", {"query": "test", "limit": 3}, "search_records")],
)
async def test_smoke_against_the_sdk(
    peer: PeerFactory, mode: str, call: str, arguments: dict[str, object] | None, called: str
) -> None:
    asked, version, opening, closing = MODES[mode]
    report = await run_smoke(spec(peer(mode), asked), sessions=3, interval=INTERVAL, call=call, arguments=arguments)
    assert report.ok, report.reason
    assert report.reason is None
    assert (report.transport, report.protocol_version) == ("streamable-http", version)
    assert report.server_info is not None
    assert report.server_info["name"] == "mcpgate-example"
    assert set(report.tools) >= set(SDK_TOOLS)  # the seed's three, and any the server added
    assert report.call == called
    assert report.cert is None
    assert [s.number for s in report.sessions] == [1, 2, 3]
    for index, session in enumerate(report.sessions):
        assert session.ok
        assert session.failure is None
        assert session.tool == called
        methods = [s.method for s in session.steps if not s.fallback]
        assert methods == [*opening, "tools/list", "tools/call", *closing]
        assert all(s.duration > 0 for s in session.steps)
        assert session.duration_s >= sum(s.duration for s in session.steps if not s.fallback) * 0.99
        # A pure schedule: session n starts n intervals after the first, never earlier.
        assert session.started_s >= index * INTERVAL - 0.001
    # Later sessions reuse the negotiated target: no negotiation attempts after the first.
    assert not any(s.fallback for session in report.sessions[1:] for s in session.steps)

    text = render_smoke_text(report, Redactor())
    assert text.splitlines()[0] == f"mcpgate smoke {peer(mode)}"
    assert text.splitlines()[-1].startswith("ok: 3 of 3 sessions ok, ")
    data = smoke_dict(report, Redactor())
    assert data["ok"] is True
    assert (data["sessions_planned"], data["sessions_ok"]) == (3, 3)
    assert data["call"] == called
    assert [s["ok"] for s in data["sessions"]] == [True, True, True]
    assert data["sessions"][2]["steps"][-1 if not closing else -2]["method"] == "tools/call"
    json.dumps(data)  # JSON-ready as is
    markdown = render_smoke_markdown(report, Redactor())
    assert markdown.startswith("### ✅ Smoke check passed: 3/3 sessions ok\n")
    assert "| Session | Result | Time | Steps |" in markdown
    assert markdown.count("| ✓ ok |") == 3


async def test_no_call_lists_tools_only(peer: PeerFactory) -> None:
    report = await run_smoke(spec(peer("stateful-sse")), sessions=1, interval=0)
    assert report.ok, report.reason
    assert report.call is None
    assert [s.method for s in report.sessions[0].steps] == ["server/discover", "tools/list"]


async def test_refused_port_fails_after_one_session() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    report = await run_smoke(spec(url), sessions=3, interval=INTERVAL, call="auto")
    assert not report.ok
    assert len(report.sessions) == 1  # nothing was negotiated, so nothing can be reused
    assert report.reason is not None
    assert report.reason.startswith("session 1: connection_error: ")
    assert "connection refused" in report.reason
    assert render_smoke_text(report, Redactor()).splitlines()[-1] == f"FAILED: {report.reason}"
    markdown = render_smoke_markdown(report, Redactor())
    assert markdown.startswith("### ❌ Smoke check failed: session 1: connection_error")
    assert smoke_dict(report, Redactor())["sessions_ok"] == 0


async def test_write_tool_is_refused_without_allow_writes(faults: FaultServer) -> None:
    before = sum(1 for m in faults.seen["smoke-writes"] if m.get("method") == "tools/call")
    report = await run_smoke(spec(faults.url("smoke-writes")), sessions=3, interval=INTERVAL, call="echo")
    assert not report.ok
    assert len(report.sessions) == 1  # the refusal holds for every session: stop at once
    assert report.reason == (
        "session 1: tool 'echo' is not marked readOnlyHint and a smoke check does not call tools that may write "
        "(--allow-writes to call it anyway)"
    )
    assert all(s.method != "tools/call" for s in report.sessions[0].steps)
    after = sum(1 for m in faults.seen["smoke-writes"] if m.get("method") == "tools/call")
    assert after == before  # nothing reached the server
    assert report.sessions[0].failure is not None
    assert f"✗ {report.sessions[0].failure}" in render_smoke_text(report, Redactor())


async def test_write_tool_with_allow_writes(faults: FaultServer) -> None:
    report = await run_smoke(
        spec(faults.url("ok")), sessions=2, interval=INTERVAL, call="echo", arguments={"text": "hi"}, allow_writes=True
    )
    assert report.ok, report.reason
    assert [s.tool for s in report.sessions] == ["echo", "echo"]


async def test_auto_without_a_read_only_tool_makes_no_call(faults: FaultServer) -> None:
    report = await run_smoke(spec(faults.url("ok")), sessions=1, interval=0, call="auto")
    assert report.ok, report.reason
    assert report.call is None
    assert report.warnings == ["call auto: no tool is marked readOnlyHint, so no call was made"]
    assert "warning: call auto" in render_smoke_text(report, Redactor())


async def test_unknown_tool(faults: FaultServer) -> None:
    report = await run_smoke(spec(faults.url("ok")), sessions=2, interval=0, call="nope")
    assert not report.ok
    assert report.reason == "session 1: tool 'nope' is not in the server's tools/list (it offers: echo, regional)"


async def test_a_failing_call_fails_its_session(faults: FaultServer) -> None:
    report = await run_smoke(spec(faults.url("tool-error")), sessions=2, interval=0, call="echo", allow_writes=True)
    assert not report.ok
    assert len(report.sessions) == 2  # a failed call does not stop the sample
    assert report.reason == "session 1: tools/call echo: tool_error: boom: disk full"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sessions": 0}, "sessions"),
        ({"sessions": 101}, "sessions"),
        ({"interval": -1.0}, "interval"),
        ({"call": "auto", "arguments": {"a": 1}}, "args"),
        ({"arguments": {"a": 1}}, "args"),
        ({"min_cert_days": 7}, "min_cert_days"),
    ],
)
async def test_bad_arguments_raise_before_any_request(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(UsageError) as caught:
        await run_smoke(spec("http://127.0.0.1:1/mcp"), **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


# -- the CLI, as cli.py wires it ---------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError("", message)


def parse(*argv: str) -> argparse.Namespace:
    parser = _Parser(prog="mcpgate")
    register(parser.add_subparsers(dest="verb", parser_class=_Parser), cli.add_target_options, cli.connect_spec)
    return parser.parse_args(argv)


async def test_cli_json(peer: PeerFactory, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("smoke", peer("stateful-sse"), "--sessions", "2", "--interval", "30ms", "--call", "auto", "--json")
    code = await asyncio.to_thread(args.handler, args)
    assert code == exitcodes.OK
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["sessions_ok"], data["call"]) == (True, 2, "get_record")


async def test_cli_refuses_a_write_tool(faults: FaultServer, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("smoke", faults.url("ok"), "--call", "echo", "--interval", "0")
    code = await asyncio.to_thread(args.handler, args)
    assert code == exitcodes.CHECK_FAILED
    assert "not marked readOnlyHint" in capsys.readouterr().out.splitlines()[-1]


async def test_cli_hides_the_bearer_token(faults: FaultServer, capsys: pytest.CaptureFixture[str]) -> None:
    token = "smoke-secret-token-42"
    args = parse("smoke", faults.url("ok"), "--bearer-token", token, "--interval", "0", "--sessions", "1", "--json")
    assert await asyncio.to_thread(args.handler, args) == exitcodes.OK
    assert faults.headers["ok"][-1]["Authorization"] == f"Bearer {token}"
    assert token not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sessions", "0"], "--sessions: must be between 1 and 100, got 0"),
        (["--interval", "soon"], "--interval: expected a duration"),
        (["--args", "{}"], "--args: needs --call TOOL"),
        (["--call", "auto", "--args", "{}"], "--args: is for a named tool"),
        (["--call", "x", "--args", "[1]"], "--args: must be a JSON object"),
        (["--min-cert-days", "3"], "--min-cert-days: needs an https:// URL"),
    ],
)
def test_cli_usage_errors(argv: list[str], message: str) -> None:
    args = parse("smoke", "http://127.0.0.1:1/mcp", *argv)
    with pytest.raises(UsageError) as caught:
        args.handler(args)
    assert str(caught.value).startswith(message)
