"""``mcpgate monitor`` through a real forward proxy (tinyproxy), chosen by HTTP_PROXY/HTTPS_PROXY/NO_PROXY.

The status API is on 127.0.0.1 like every test peer, and loopback gets no special treatment:
with ``HTTP_PROXY`` set and ``NO_PROXY`` unset the request goes through the proxy, which the
proxy's own log and its ``Via`` header at the API both show.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from mcpgate.app.postdeploy.monitor import (
    MonitorReport,
    MonitorSpec,
    monitor_dict,
    monitor_redactor,
    render_monitor_markdown,
    render_monitor_text,
    run_monitor,
)
from mcpgate.app.requests import MONITOR_TOKEN_ENV
from mcpgate.support.errors import UsageError
from mcpgate.support.tls import TlsSettings
from tests.conftest import Spawn
from tests.parts.tinyproxy import Tinyproxy, running_tinyproxy
from tests.servers import free_port

TOKEN = "alive-proxy-token-5c1e"
LOGIN = ("mon-proxy", "pr0xy-s3cret-41")
WRONG = ("mon-proxy", "wrong-pass-77x")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD", "SSL_CERT_FILE")
FAST = {"interval": 0.05, "timeout": 0.3, "request_timeout": 2.0}

SetEnv = Callable[..., None]


@dataclass
class StatusApi:
    base: str = ""
    tls_base: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)

    def url(self, name: str, *, tls: bool = False) -> str:
        return f"{self.tls_base if tls else self.base}/v1/monitors/{name}/status"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
async def api(ca: trustme.CA) -> AsyncIterator[StatusApi]:
    """One status API, on plain HTTP and on HTTPS with a certificate from the test's own CA."""
    status = StatusApi()

    async def handle(request: web.Request) -> web.StreamResponse:
        status.seen.append(dict(request.headers))
        if request.match_info["name"] == "up":
            return web.json_response({"id": "m1", "status": "up"})
        return web.json_response({"status": "down"})

    app = web.Application()
    app.router.add_get("/v1/monitors/{name}/status", handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    plain, secure = web.TCPSite(runner, "127.0.0.1", 0), web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await plain.start()
    await secure.start()
    ports = [address[1] for address in runner.addresses]
    status.base, status.tls_base = f"http://127.0.0.1:{ports[0]}", f"https://127.0.0.1:{ports[1]}"
    yield status
    await runner.cleanup()


@pytest.fixture(scope="module")
def proxy() -> Iterator[Tinyproxy]:
    with running_tinyproxy(LOGIN) as started:
        yield started


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """No proxy setting from outside the test; ``env(NAME=value)`` sets the test's own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def spec(url: str, **kw: object) -> MonitorSpec:
    options: dict[str, object] = {"token": TOKEN, **FAST, **kw}
    return MonitorSpec(url, **options)  # type: ignore[arg-type]


def secrets(*logins: tuple[str, str]) -> list[str]:
    """The token, and each proxy password as written and as its Proxy-Authorization header carries it."""
    found = [TOKEN]
    for user, password in logins or (LOGIN,):
        found += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    return found


def assert_clean(report: MonitorReport, s: MonitorSpec, *logins: tuple[str, str]) -> list[str]:
    redact = monitor_redactor(s)
    outputs = [
        render_monitor_text(report, redact),
        render_monitor_markdown(report, redact),
        json.dumps(monitor_dict(report, redact)),
        repr(report),
    ]
    for output in outputs:
        for secret in secrets(*logins):
            assert secret not in output
    return outputs


async def test_through_the_proxy(api: StatusApi, proxy: Tinyproxy, env: SetEnv) -> None:
    env(HTTP_PROXY=proxy.url())
    before = len(proxy.requests(settle=0))
    s = spec(api.url("up"))
    report = await run_monitor(s)
    assert report.ok, report.reason
    assert proxy.requests()[before:] == [f"GET {api.url('up')}"]
    arrived = api.seen[-1]
    assert "tinyproxy" in arrived.get("Via", "")  # it came through the proxy, not around it
    assert arrived["Authorization"] == f"Bearer {TOKEN}"
    assert report.proxy == proxy.address
    text, markdown, as_json, _ = assert_clean(report, s)
    assert f"  proxy     {proxy.address}" in text.splitlines()
    assert f"through the proxy `{proxy.address}`" in markdown
    assert json.loads(as_json)["proxy"] == proxy.address


async def test_no_proxy_goes_direct(api: StatusApi, proxy: Tinyproxy, env: SetEnv) -> None:
    env(HTTP_PROXY=proxy.url(), NO_PROXY="localhost,127.0.0.1")
    before = len(proxy.requests(settle=0))
    s = spec(api.url("up"))
    report = await run_monitor(s)
    assert report.ok, report.reason
    assert proxy.requests(settle=0.2)[before:] == []
    assert "Via" not in api.seen[-1]
    assert report.proxy is None
    text = assert_clean(report, s)[0]
    assert "proxy" not in text


async def test_https_through_a_tunnel(
    api: StatusApi, proxy: Tinyproxy, env: SetEnv, ca: trustme.CA, tmp_path: Path
) -> None:
    """HTTPS_PROXY: a CONNECT tunnel through the proxy, the API's certificate checked end to end."""
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    env(HTTPS_PROXY=proxy.url())
    before = len(proxy.requests(settle=0))
    url = api.url("up", tls=True)
    s = spec(url, tls=TlsSettings(ca_file=str(ca_file)))
    report = await run_monitor(s)
    assert report.ok, report.reason
    assert proxy.requests()[before:] == [f"CONNECT {url.split('/')[2]}"]
    assert report.proxy == proxy.address
    assert_clean(report, s)


async def test_a_refused_tunnel_names_the_proxy(api: StatusApi, env: SetEnv) -> None:
    with running_tinyproxy(extra=["ConnectPort 443"]) as strict:  # tunnels to 443 only
        env(HTTPS_PROXY=strict.url())
        s = spec(api.url("up", tls=True), timeout=0.1)
        report = await run_monitor(s)
    assert not report.ok
    assert report.history[0].http_status is None
    assert report.history[0].note.startswith(f"the proxy {strict.address} refused to open a tunnel: HTTP 403")


async def test_ssl_cert_file_adds_the_roots(api: StatusApi, env: SetEnv, ca: trustme.CA, tmp_path: Path) -> None:
    url = api.url("up", tls=True)
    report = await run_monitor(spec(url))
    assert not report.ok
    assert report.history[0].note.startswith("TLS certificate rejected: ")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    env(SSL_CERT_FILE=str(ca_file))
    report = await run_monitor(spec(url))
    assert report.ok, report.reason


async def test_proxy_down_is_named(env: SetEnv) -> None:
    port = free_port()
    env(HTTP_PROXY=f"http://{LOGIN[0]}:{LOGIN[1]}@127.0.0.1:{port}")
    s = spec(f"http://127.0.0.1:{free_port()}/v1/monitors/up/status", timeout=0.1)
    report = await run_monitor(s)
    assert not report.ok
    assert report.history[0].http_status is None
    assert report.history[0].note == f"cannot connect to the proxy http://127.0.0.1:{port}: connection refused"
    assert report.reason is not None
    assert report.reason.startswith(
        f"cannot connect to the proxy http://127.0.0.1:{port}: connection refused (last of "
    )
    assert_clean(report, s)


async def test_a_refused_proxy_login_is_not_retried(api: StatusApi, proxy: Tinyproxy, env: SetEnv) -> None:
    env(HTTP_PROXY=proxy.url(WRONG))
    asked = len(api.seen)
    s = spec(api.url("up"), timeout=5.0)
    report = await run_monitor(s)
    assert not report.ok
    assert report.polls == 1
    assert len(api.seen) == asked  # the proxy answered itself
    assert report.reason is not None
    if report.history[0].http_status == 407:  # as RFC 9110 has it
        assert report.reason.endswith("(not retried: the proxy refuses these credentials)")
    else:  # tinyproxy 1.11 answers a wrong login with 401 and its own page
        assert report.history[0].http_status == 401
        assert "Unauthorized" in report.reason
        assert report.reason.endswith(f"(not retried: the API or the proxy {proxy.address} refuses these credentials)")
    assert_clean(report, s, WRONG)


async def test_cli_through_the_proxy(api: StatusApi, proxy: Tinyproxy, env: SetEnv, spawn: Spawn) -> None:
    """The verb itself, in its own process, with the token and the proxy login only in its environment."""
    env(HTTP_PROXY=proxy.url(), **{MONITOR_TOKEN_ENV: TOKEN})
    before = len(proxy.requests(settle=0))
    proc = await spawn("monitor", api.url("down"), "--interval", "50ms", "--timeout", "200ms", "--json")
    out, err = await proc.communicate()
    assert proc.returncode == 1, err.decode()
    seen = proxy.requests()[before:]
    assert seen
    assert set(seen) == {f"GET {api.url('down')}"}
    data = json.loads(out)
    assert data["proxy"] == proxy.address
    assert data["history"][0]["note"] == 'status is "down", expected "up"'
    for secret in secrets():
        assert secret not in out.decode() + err.decode()


@pytest.mark.parametrize("token", [TOKEN, None])
async def test_netrc_adds_no_second_credential(
    api: StatusApi, env: SetEnv, tmp_path: Path, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ~/.netrc login for the API's host is neither sent nor in the way of the token."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pass-0a1\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    report = await run_monitor(spec(api.url("up"), token=token))
    assert report.ok, report.reason
    sent = api.seen[-1].get("Authorization")
    assert sent == (f"Bearer {TOKEN}" if token else None)


@pytest.mark.parametrize("name", ["ca_file", "client_cert"])
def test_an_unloadable_tls_file_is_bad_input(tmp_path: Path, name: str) -> None:
    broken = tmp_path / "not.pem"
    broken.write_text("not a certificate\n")
    with pytest.raises(UsageError) as caught:
        spec("https://127.0.0.1:1/status", tls=TlsSettings(**{name: str(broken)}))  # type: ignore[arg-type]
    assert caught.value.field == name
    assert caught.value.message.startswith("cannot load it: ")
