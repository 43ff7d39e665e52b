"""``mcpgate monitor`` against a local fake monitor-status API (aiohttp on 127.0.0.1)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from mcpgate.app.postdeploy.monitor import (
    MonitorReport,
    MonitorSpec,
    monitor_dict,
    monitor_redactor,
    parse_path,
    render_monitor_markdown,
    render_monitor_text,
    resolve,
    run_monitor,
)
from mcpgate.app.requests import MONITOR_TOKEN_ENV
from mcpgate.doors import cli
from mcpgate.doors.postdeploy import register
from mcpgate.support import exitcodes
from mcpgate.support.errors import UsageError
from tests.servers import free_port

TOKEN = "alive-secret-token-7f3a"
FAST = {"interval": 0.02, "timeout": 0.3, "request_timeout": 0.2}


@dataclass
class FakeApi:
    base: str = ""
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    headers: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, name: str) -> str:
        return f"{self.base}/v1/monitors/{name}/status"


def status(value: object) -> dict[str, object]:
    return {"id": "m1", "status": value, "checked_at": "2025-01-01T00:00:00Z"}


@pytest.fixture(scope="module")
async def api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()

    async def handle(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        fake.counts[name] += 1
        fake.headers[name].append(dict(request.headers))
        n = fake.counts[name]
        if name == "up":
            return web.json_response(status("up"))
        if name == "flaky":  # down for two polls, then up
            return web.json_response(status("down" if n <= 2 else "up"))
        if name == "down":
            return web.json_response(status("down"))
        if name == "silent":  # never answers (until the test server stops)
            await asyncio.wait_for(fake.stopping.wait(), 30)
            return web.json_response(status("up"))
        if name == "unauthorized":  # echoes the credentials, as careless error pages do
            auth = request.headers.get("Authorization", "")
            return web.json_response({"error": f"invalid credentials: {auth}"}, status=401)
        if name == "broken":
            return web.Response(status=200, text="<html><title>oops</title>", content_type="text/html")
        if name == "nested":
            return web.json_response({"data": {"monitors": [{"status": "up", "id": 1}], "healthy": True}})
        if name == "redirect":
            raise web.HTTPFound(location="http://127.0.0.1:1/elsewhere")
        if name == "unavailable":
            return web.Response(status=503, text="maintenance")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/v1/monitors/{name}/status", handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    fake.stopping.set()
    await runner.cleanup()


def spec(url: str, **kw: object) -> MonitorSpec:
    options: dict[str, object] = {"token": TOKEN, **FAST, **kw}
    return MonitorSpec(url, **options)  # type: ignore[arg-type]


def outputs(report: MonitorReport, s: MonitorSpec) -> list[str]:
    redact = monitor_redactor(s)
    return [
        render_monitor_text(report, redact),
        render_monitor_markdown(report, redact),
        json.dumps(monitor_dict(report, redact)),
        repr(report),
        repr(s),
    ]


def assert_no_token(report: MonitorReport, s: MonitorSpec) -> None:
    for output in outputs(report, s):
        assert TOKEN not in output


async def test_up_at_once(api: FakeApi) -> None:
    s = spec(api.url("up"))
    report = await run_monitor(s)
    assert report.ok
    assert (report.observed, report.polls, report.reason) == ("up", 1, None)
    assert report.history[0].http_status == 200
    assert report.history[0].note == 'status is "up"'
    sent = api.headers["up"][-1]
    assert sent["Authorization"] == f"Bearer {TOKEN}"
    assert sent["Accept"] == "application/json"
    text = render_monitor_text(report, monitor_redactor(s))
    assert text.splitlines()[-1].startswith('ok: status is "up" after 1 poll in ')
    assert render_monitor_markdown(report, monitor_redactor(s)).startswith(
        "### ✅ Monitor: `status` == `up` after 1 poll"
    )
    assert_no_token(report, s)


async def test_down_then_up(api: FakeApi) -> None:
    report = await run_monitor(spec(api.url("flaky")))
    assert report.ok, report.reason
    assert report.polls == 3
    assert [p.observed for p in report.history] == ["down", "down", "up"]
    assert report.history[0].note == 'status is "down", expected "up"'
    # Polls follow the schedule: poll k at k * interval.
    for k, poll in enumerate(report.history):
        assert poll.t >= k * 0.02 - 0.001


async def test_always_down_times_out(api: FakeApi) -> None:
    s = spec(api.url("down"), timeout=0.15)
    t0 = time.monotonic()
    report = await run_monitor(s)
    took = time.monotonic() - t0
    assert not report.ok
    assert report.observed == "down"
    assert 1 <= report.polls <= 8  # ceil(0.15 / 0.02)
    assert report.reason is not None
    assert report.reason.startswith(f'status is "down", expected "up" (last of {report.polls} poll(s); gave up after ')
    assert took < 0.15 + 0.2 + 0.5
    assert render_monitor_text(report, monitor_redactor(s)).splitlines()[-1] == f"FAILED: {report.reason}"
    assert render_monitor_markdown(report, monitor_redactor(s)).startswith('### ❌ Monitor: status is "down"')
    assert_no_token(report, s)


async def test_never_answers_is_bounded(api: FakeApi) -> None:
    s = spec(api.url("silent"), interval=0.02, timeout=0.25, request_timeout=0.08)
    t0 = time.monotonic()
    report = await run_monitor(s)
    took = time.monotonic() - t0
    assert not report.ok
    assert took < 0.25 + 0.3  # the whole loop is bounded by wait + timeout
    assert 2 <= report.polls <= 13
    assert all(p.http_status is None and p.note.startswith("no response within") for p in report.history)
    assert report.reason is not None
    assert report.reason.startswith("no response within ")


async def test_unauthorized_stops_at_once_and_hides_the_token(api: FakeApi) -> None:
    s = spec(api.url("unauthorized"), timeout=5.0)
    t0 = time.monotonic()
    report = await run_monitor(s)
    assert time.monotonic() - t0 < 1  # a refused token is not retried for the whole timeout
    assert not report.ok
    assert report.polls == 1
    assert report.history[0].http_status == 401
    assert report.reason is not None
    assert report.reason.startswith("HTTP 401 Unauthorized: ")
    assert report.reason.endswith("(not retried: the API refuses these credentials)")
    assert "Bearer ***" in report.reason  # the server echoed it; the report never held it
    assert_no_token(report, s)


async def test_invalid_json(api: FakeApi) -> None:
    report = await run_monitor(spec(api.url("broken"), timeout=0.05))
    assert not report.ok
    assert report.history[-1].note == "HTTP 200 but the body is not JSON: HTML page 'oops'"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data.monitors.0.status", "up"),
        (".data.monitors[0].status", "up"),
        ("data.healthy", "true"),
        ("data.monitors.0.id", "1"),
    ],
)
async def test_nested_paths(api: FakeApi, path: str, expected: str) -> None:
    report = await run_monitor(spec(api.url("nested"), path=path, expected=expected))
    assert report.ok, report.reason
    assert report.observed == expected


@pytest.mark.parametrize(
    ("path", "note"),
    [
        ("data.monitors.0.state", "no 'state' in the object at data.monitors.0 (it has: status, id)"),
        ("data.monitors.3.status", "data.monitors has 1 item(s), no index 3"),
        ("data.monitors.first", "data.monitors is an array; 'first' is not an index"),
        ("data.healthy.value", "data.healthy is a boolean, it has no 'value'"),
        ("data", "data is an object, not a value to compare"),
    ],
)
async def test_path_problems_are_named(api: FakeApi, path: str, note: str) -> None:
    report = await run_monitor(spec(api.url("nested"), path=path, timeout=0.03))
    assert not report.ok
    assert report.history[-1].note == note


async def test_connection_refused() -> None:
    report = await run_monitor(spec(f"http://127.0.0.1:{free_port()}/status", timeout=0.05))
    assert not report.ok
    assert report.history[0].http_status is None
    assert "connection refused" in report.history[0].note


async def test_redirects_are_not_followed(api: FakeApi) -> None:
    report = await run_monitor(spec(api.url("redirect"), timeout=0.03))
    assert not report.ok
    assert report.history[0].http_status == 302
    assert report.history[0].note.startswith("HTTP 302 redirect to 'http://127.0.0.1:1/elsewhere' (not followed")


async def test_server_error_is_retried(api: FakeApi) -> None:
    report = await run_monitor(spec(api.url("unavailable"), timeout=0.07))
    assert not report.ok
    assert report.polls >= 2  # a 503 may pass; a 401 would not
    assert report.history[-1].note == "HTTP 503 Service Unavailable: 'maintenance'"


async def test_the_schedule_without_waiting(api: FakeApi) -> None:
    """The seed's numbers (sleep 90, every 10s for 5m) with a recorded sleep: no real waiting."""
    slept: list[float] = []
    clock = [1000.0]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    s = MonitorSpec(api.url("down"), TOKEN, wait=90, interval=10, timeout=300, request_timeout=1)
    t0 = time.monotonic()
    report = await run_monitor(s, sleep=sleep, clock=lambda: clock[0])
    assert time.monotonic() - t0 < 2
    assert not report.ok
    assert report.polls == 30  # polls at 90, 100, ..., 380: all before 90 + 300
    assert slept == pytest.approx([90.0] + [10.0] * 29)
    assert [p.t for p in report.history] == pytest.approx([90.0 + 10 * k for k in range(30)])
    assert report.elapsed_s == pytest.approx(380.0)
    assert report.reason is not None
    assert report.reason.endswith("(last of 30 poll(s); gave up after 6m20s)")
    assert "wait 1m30s, then poll every 10s for up to 5m" in render_monitor_text(report, monitor_redactor(s))


async def test_markdown_shows_the_last_polls_only(api: FakeApi) -> None:
    async def sleep(seconds: float) -> None:
        return None

    s = MonitorSpec(api.url("down"), TOKEN, interval=1, timeout=25, request_timeout=1)
    report = await run_monitor(s, sleep=sleep)
    assert report.polls == 25
    markdown = render_monitor_markdown(report, monitor_redactor(s))
    assert markdown.count('| down | status is "down", expected "up" |') == 20
    assert "_5 earlier poll(s) not shown._" in markdown


# -- the spec and the path ---------------------------------------------------------------------


def test_paths() -> None:
    assert parse_path("status") == ("status",)
    assert parse_path("monitors.0.status") == ("monitors", "0", "status")
    assert parse_path(".monitors[0].status") == ("monitors", 0, "status")
    assert parse_path("$.a[1][2]") == ("a", 1, 2)
    assert parse_path("") == parse_path(".") == ()
    assert resolve("up", ()) == "up"
    with pytest.raises(ValueError, match="expected a dotted path"):
        parse_path("a..b")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interval": 0}, "interval"),
        ({"timeout": -1}, "timeout"),
        ({"request_timeout": float("inf")}, "request_timeout"),
        ({"wait": -0.5}, "wait"),
        ({"interval": 0.001, "timeout": 3600}, "interval"),
        ({"path": "a..b"}, "path"),
        ({"token": "two\nlines"}, "token"),
        ({"headers": {"Authorization": "Bearer x"}}, "token"),
    ],
)
def test_spec_checks(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(UsageError) as caught:
        spec("http://127.0.0.1:1/status", **kwargs)
    assert caught.value.field == field


def test_spec_url_check() -> None:
    with pytest.raises(UsageError) as caught:
        MonitorSpec("ftp://example.com/status", None)
    assert caught.value.field == "url"


# -- the CLI -----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError("", message)


def parse(*argv: str) -> argparse.Namespace:
    parser = _Parser(prog="mcpgate")
    register(parser.add_subparsers(dest="verb", parser_class=_Parser), cli.add_target_options, cli.connect_spec)
    return parser.parse_args(argv)


FAST_FLAGS = ("--interval", "20ms", "--timeout", "150ms", "--request-timeout", "200ms")


async def test_cli_token_from_the_environment(
    api: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MONITOR_TOKEN_ENV, TOKEN)
    args = parse("monitor", api.url("flaky-cli"), *FAST_FLAGS, "--json", "-H", "X-Trace: 1")
    code = await asyncio.to_thread(args.handler, args)
    out = capsys.readouterr().out
    assert code == exitcodes.CHECK_FAILED  # flaky-cli is not a route: 404 until the timeout
    assert api.headers["flaky-cli"][-1]["Authorization"] == f"Bearer {TOKEN}"
    assert api.headers["flaky-cli"][-1]["X-Trace"] == "1"
    data = json.loads(out)
    assert data["ok"] is False
    assert data["history"][0]["http_status"] == 404
    assert TOKEN not in out


async def test_cli_ok_and_text(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("monitor", api.url("nested"), "--token", TOKEN, "--path", "data.monitors[0].status", *FAST_FLAGS)
    assert await asyncio.to_thread(args.handler, args) == exitcodes.OK
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith('ok: data.monitors[0].status is "up" after 1 poll')
    assert TOKEN not in out


async def test_cli_unauthorized_text_hides_the_token(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("monitor", api.url("unauthorized"), "--token", TOKEN, *FAST_FLAGS)
    assert await asyncio.to_thread(args.handler, args) == exitcodes.CHECK_FAILED
    out = capsys.readouterr().out
    assert "HTTP 401" in out
    assert TOKEN not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--interval", "0"], "--interval: must be more than 0"),
        (["--timeout", "later"], "--timeout: expected a duration"),
        (["--path", "a..b"], "--path: expected a dotted path"),
        (["-H", "nonsense"], "--header: expected 'Name: value'"),
        (["--token", TOKEN, "-H", "Authorization: Bearer x"], "--token: an Authorization header is also given"),
    ],
)
def test_cli_usage_errors(argv: list[str], message: str) -> None:
    args = parse("monitor", "http://127.0.0.1:1/status", *argv)
    with pytest.raises(UsageError) as caught:
        args.handler(args)
    assert str(caught.value).startswith(message)
    assert TOKEN not in str(caught.value)


def test_cli_bad_url() -> None:
    args = parse("monitor", "api.alivemcp.com/v1/monitors/1/status")
    with pytest.raises(UsageError, match=r"^MONITOR_URL: expected an http"):
        args.handler(args)
