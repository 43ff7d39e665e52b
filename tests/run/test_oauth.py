"""OAuth end to end: a real authorization server in front of a protected MCP server on the official SDK.

mcpgate finds the token endpoint as MCP clients do (the 401's resource_metadata, the protected
resource metadata, the issuer's OpenID configuration), asks for tokens, and never shows one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mcpgate.support import exitcodes
from tests.parts.oauth import CLIENT_ID, CLIENT_SECRET, Protected, protected  # noqa: F401
from tests.run.helpers import config_file
from tests.test_cli_probe import mcpgate

MIX = [{"name": "get_record", "arguments": {"id": "rec_{{ vu }}"}}]


def oauth_config(url: str, auth: dict[str, object], *, vus: int = 3, duration: str = "2s") -> dict[str, object]:
    return {
        "target": {"url": url, "auth": auth},
        "flow": {"tools": MIX},
        "scenarios": {"load": {"executor": "constant-vus", "vus": vus, "duration": duration}},
        "thresholds": {"mcp_auth_errors": ["count<1"], "checks": ["rate==1"]},
    }


def client_credentials(**more: object) -> dict[str, object]:
    return {"type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "${OAUTH_SECRET}", **more}


def env(**more: str) -> dict[str, str]:
    return {**os.environ, "OAUTH_SECRET": CLIENT_SECRET, **more}


def artefacts(tmp_path: Path, *texts: str) -> str:
    """What a run left behind: its output and every file it wrote."""
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    return "\n".join([*texts, *files])


def issued(server: Protected) -> list[str]:
    return [str(r["token"]) for r in server.auth.requests() if r.get("token")]


async def test_probe_finds_the_token_endpoint_from_the_401(protected: Protected) -> None:  # noqa: F811
    code, out, err = await mcpgate(
        "probe", protected.url, "--auth", "client_credentials", "--client-id", CLIENT_ID,
        "--call", "get_record", "--args", '{"id": "rec_1"}',
        env={**os.environ, "MCPGATE_CLIENT_SECRET": CLIENT_SECRET},
    )  # fmt: skip
    assert code == exitcodes.OK, out + err
    assert "✓ tools/call get_record" in out
    [request] = protected.auth.requests()
    assert (request["grant"], request["ok"]) == ("client_credentials", True)
    assert (request["client"], request["method"]) == (CLIENT_ID, "basic")
    assert request["resource"] == protected.url  # RFC 8707: the MCP URL, as the spec says
    assert protected.accepted()
    assert all(a["client"] == CLIENT_ID for a in protected.accepted())
    assert CLIENT_SECRET not in out + err
    assert str(request["token"]) not in out + err


async def test_a_run_with_client_credentials_has_no_errors_and_shows_no_secret(
    tmp_path: Path,
    protected: Protected,  # noqa: F811
) -> None:
    config = config_file(tmp_path / "mcpgate.yaml", oauth_config(protected.url, client_credentials()))
    out = tmp_path / "out"
    code, stdout, stderr = await mcpgate(
        "run", "-c", str(config), "--workers", "1", "--no-progress",
        "--out", str(out / "results.json"), "--markdown", str(out / "summary.md"), "--junit", str(out / "junit.xml"),
        env=env(),
    )  # fmt: skip
    assert code == exitcodes.OK, stdout + stderr
    results = json.loads((out / "results.json").read_text())
    metrics = results["metrics"]
    assert metrics["checks"]["values"]["rate"] == 1.0
    assert metrics["http_req_failed"]["values"]["rate"] == 0.0
    assert metrics["mcp_auth_errors"]["values"]["count"] == 0
    assert metrics["mcp_auth_refresh"]["values"]["count"] == 0
    assert metrics["mcp_errors_auth_error"]["values"]["count"] == 0
    # One token for the preflight and the run's three VUs: cached, not asked for per request.
    assert len(protected.auth.requests()) == 1
    assert metrics["iterations"]["values"]["count"] > 10
    seen = artefacts(tmp_path, stdout, stderr)
    for secret in (CLIENT_SECRET, *issued(protected)):
        assert secret not in seen


async def test_a_revoked_client_fails_the_preflight_in_one_line(tmp_path: Path, protected: Protected) -> None:  # noqa: F811
    config = config_file(tmp_path / "mcpgate.yaml", oauth_config(protected.url, client_credentials()))
    code, stdout, stderr = await mcpgate(
        "run", "-c", str(config), "--no-progress", "--out", str(tmp_path / "results.json"),
        env=env(OAUTH_SECRET="not-the-secret-5e1a"),
    )  # fmt: skip
    assert code == exitcodes.COULD_NOT_START, stdout + stderr
    [line] = [line for line in stdout.splitlines() if "DID NOT START" in line]
    assert "auth_error: token endpoint" in line
    assert "answered 401: invalid_client: client load-client is unknown" in line
    assert "not-the-secret-5e1a" not in stdout + stderr
    assert protected.accepted() == []  # no MCP request went out with a token


@pytest.mark.parametrize(("method", "sent"), [("client_secret_basic", "basic"), ("client_secret_post", "post")])
async def test_each_client_authentication_method(
    tmp_path: Path,
    protected: Protected,  # noqa: F811
    method: str,
    sent: str,
) -> None:
    config = oauth_config(protected.url, client_credentials(client_auth=method, scope="mcp:read"), vus=1, duration="1s")
    path = config_file(tmp_path / "mcpgate.yaml", config)
    code, out, err = await mcpgate("run", "-c", str(path), "--no-progress", "--workers", "1", env=env())
    assert code == exitcodes.OK, out + err
    [request] = protected.auth.requests()
    assert (request["method"], request["scope"], request["ok"]) == (sent, "mcp:read", True)
