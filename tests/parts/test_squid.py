"""Through a real squid: plain-HTTP origins forwarded in absolute form, https ones tunnelled with
CONNECT, proxy credentials sent and never shown, and squid's refusal named as the proxy's.

The MCP server checks the Host header (the SDK's DNS-rebinding guard), so plain-HTTP requests
name it ``localhost``; the https tests (test_nginx.py) use a name only squid can resolve.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpgate.support import exitcodes
from tests import servers
from tests.parts.squid import Squid, squid
from tests.test_cli_probe import mcpgate

HOST = "localhost"
USER, PASSWORD = "gate", "pr0xy-pa55-9d2e"
TOOLS = 'get_record: 1 {"id": "rec_{{ randint(1, 9) }}"}'


@pytest.fixture(scope="module")
def mcp() -> Iterator[servers.Server]:
    with servers.serving(lambda port: servers.example_cmd(port, "--json")) as server:
        yield server


@pytest.fixture(scope="module")
def proxy() -> Iterator[Squid]:
    with squid(hosts={"mcp.staging.test": "127.0.0.1", "localhost": "127.0.0.1"}, users={USER: PASSWORD}) as running:
        yield running


def _url(mcp: servers.Server) -> str:
    return f"http://{HOST}:{mcp.base.rsplit(':', 1)[1]}/mcp"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**env, **extra}


async def test_probe_through_squid_with_credentials(mcp: servers.Server, proxy: Squid) -> None:
    code, out, err = await mcpgate(
        "probe", _url(mcp), "--proxy", proxy.url(USER, PASSWORD), "--call", "get_record", "--args", '{"id": "rec_1"}'
    )
    assert code == exitcodes.OK, out + err
    assert f"POST {_url(mcp)} " in proxy.log()  # forwarded: the absolute form reached squid
    assert f" {USER} " in proxy.log()  # squid checked the credentials
    assert PASSWORD not in out + err


async def test_run_through_squid_from_the_environment_has_no_errors_and_shows_no_credentials(
    mcp: servers.Server, proxy: Squid, tmp_path: Path
) -> None:
    markdown = tmp_path / "summary.md"
    env = _clean_env(HTTP_PROXY=proxy.url(USER, PASSWORD))
    results_file = tmp_path / "results.json"
    code, stdout, stderr = await mcpgate(
        "run",
        "--url",
        _url(mcp),
        "--duration",
        "2s",
        "--vus",
        "2",
        "--tools",
        TOOLS,
        "--markdown",
        str(markdown),
        "--out",
        str(results_file),
        "--no-progress",
        env=env,
    )
    assert code == exitcodes.OK, stdout + stderr
    results = json.loads(results_file.read_text())
    assert results["metrics"]["http_req_failed"]["values"]["rate"] == 0
    assert results["metrics"]["mcp_tool_errors"]["values"]["rate"] == 0
    assert f"POST {_url(mcp)} " in proxy.log()
    for text in (stdout, stderr, results_file.read_text(), markdown.read_text()):
        assert PASSWORD not in text


async def test_squid_asking_for_credentials_is_the_proxys_refusal(mcp: servers.Server, proxy: Squid) -> None:
    code, out, _ = await mcpgate("probe", _url(mcp), "--proxy", proxy.url(), "--json", env=_clean_env())
    assert code != exitcodes.OK
    step = json.loads(out)["steps"][-1]
    assert step["outcome"] == "connection_error"
    assert (
        step["reason"] == f"proxy 127.0.0.1:{proxy.port}: 407 Proxy Authentication Required (no credentials were given)"
    )


async def test_wrong_credentials_are_refused_and_not_repeated(mcp: servers.Server, proxy: Squid) -> None:
    code, out, err = await mcpgate("probe", _url(mcp), "--proxy", proxy.url(USER, "not-the-one-77"), env=_clean_env())
    assert code != exitcodes.OK
    assert "407 Proxy Authentication Required (the proxy refused the credentials)" in out + err
    assert "not-the-one-77" not in out + err


async def test_no_proxy_star_turns_the_environments_proxy_off(mcp: servers.Server, proxy: Squid) -> None:
    before = proxy.log().count("\n")
    env = _clean_env(HTTP_PROXY=proxy.url(USER, PASSWORD))
    code, out, err = await mcpgate("probe", mcp.url("/mcp"), "--no-proxy", "*", env=env)
    assert code == exitcodes.OK, out + err
    assert proxy.log().count("\n") == before
