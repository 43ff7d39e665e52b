"""OAuth end to end: a real authorization server in front of a protected MCP server on the official SDK.

mcpgate finds the token endpoint as MCP clients do (the 401's resource_metadata, the protected
resource metadata, the issuer's OpenID configuration), asks for tokens, and never shows one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from mcpgate.support import exitcodes
from tests.parts.oauth import (  # noqa: F401
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    AuthServer,
    Protected,
    authorization_server,
    protected,
    protected_server,
)
from tests.parts.squid import squid
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


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_run_with_client_credentials_has_no_errors_and_shows_no_secret(
    tmp_path: Path,
    protected: Protected,  # noqa: F811
    workers: int,
) -> None:
    config = config_file(tmp_path / "mcpgate.yaml", oauth_config(protected.url, client_credentials()))
    out = tmp_path / "out"
    code, stdout, stderr = await mcpgate(
        "run", "-c", str(config), "--workers", str(workers), "--no-progress",
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
    # One token for the preflight and the run's three VUs, and one more for each worker process
    # of its own: cached, not asked for per request.
    assert len(protected.auth.requests()) == (1 if workers == 1 else 1 + workers)
    durations = metrics.get("mcp_auth_duration", {"values": {"count": 0}})  # a trend with no sample is not shown
    assert durations["values"]["count"] == (0 if workers == 1 else workers)
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


async def test_a_refresh_token_is_turned_into_access_tokens(tmp_path: Path) -> None:
    with authorization_server(clients={}, refresh=(REFRESH_TOKEN,)) as auth, protected_server(auth) as server:
        code, out, err = await mcpgate(
            "probe", server.url, "--auth", "refresh_token", "--call", "get_record", "--args", '{"id": "rec_2"}',
            env={**os.environ, "MCPGATE_REFRESH_TOKEN": REFRESH_TOKEN},
        )  # fmt: skip
        assert code == exitcodes.OK, out + err
        config = oauth_config(server.url, {"type": "refresh_token", "refresh_token": "${RT}"}, vus=2, duration="1s")
        path = config_file(tmp_path / "mcpgate.yaml", config)
        code, out2, err2 = await mcpgate(
            "run", "-c", str(path), "--no-progress", "--workers", "1", "--out", str(tmp_path / "results.json"),
            env={**os.environ, "RT": REFRESH_TOKEN},
        )  # fmt: skip
        assert code == exitcodes.OK, out2 + err2
        requests = auth.requests()
    assert [(r["grant"], r["ok"]) for r in requests] == [("refresh_token", True)] * 2  # the probe's, the run's
    assert REFRESH_TOKEN not in artefacts(tmp_path, out, err, out2, err2)


async def test_a_spent_refresh_token_is_a_named_failure(tmp_path: Path) -> None:
    with authorization_server(clients={}) as auth, protected_server(auth) as server:
        code, out, err = await mcpgate(
            "probe", server.url, "--auth", "refresh_token", "--refresh-token", "rt-spent-0e4b77", env=dict(os.environ)
        )
    assert code == exitcodes.CHECK_FAILED
    assert "auth_error: token endpoint" in out
    assert "answered 400: invalid_grant: refresh token revoked" in out
    assert "rt-spent-0e4b77" not in out + err


async def run_expiring(tmp_path: Path, *, ttl: int, life: int) -> tuple[dict[str, Any], list[dict[str, object]]]:
    """A 5-second run against tokens the server announces for ``ttl`` seconds and that live ``life``."""
    with authorization_server(ttl=ttl, life=life) as auth, protected_server(auth) as server:
        config = oauth_config(server.url, client_credentials(), vus=3, duration="5s")
        path = config_file(tmp_path / "mcpgate.yaml", config)
        out = tmp_path / "results.json"
        code, stdout, stderr = await mcpgate(
            "run", "-c", str(path), "--no-progress", "--workers", "1", "--out", str(out), env=env()
        )
        assert code == exitcodes.OK, stdout + stderr
        metrics: dict[str, Any] = json.loads(out.read_text())["metrics"]
        seen = artefacts(tmp_path, stdout, stderr)
        for secret in (CLIENT_SECRET, *issued(server)):
            assert secret not in seen
        return metrics, auth.requests()


def failed_steps(metrics: dict[str, Any]) -> float:
    return float(sum(m["values"]["count"] for name, m in metrics.items() if name.startswith("mcp_errors_")))


async def test_tokens_are_replaced_before_they_expire(tmp_path: Path) -> None:
    metrics, requests = await run_expiring(tmp_path, ttl=3, life=5)
    # Asked for again each time 4/5 of the announced 3 s had passed: the preflight's, then 2 or 3 more.
    assert len(requests) >= 3
    assert metrics["mcp_auth_duration"]["values"]["count"] == len(requests) - 1  # the preflight's is not the run's
    assert metrics["mcp_auth_refresh"]["values"]["count"] == 0  # never refused: replaced in time
    assert (failed_steps(metrics), metrics["http_req_failed"]["values"]["rate"]) == (0, 0.0)


async def test_a_token_refused_mid_run_is_replaced_and_the_request_sent_again(tmp_path: Path) -> None:
    # Announced for an hour, dead after 3 s: the MCP server's 401 is the only sign.
    metrics, requests = await run_expiring(tmp_path, ttl=3600, life=3)
    refreshed = metrics["mcp_auth_refresh"]["values"]["count"]
    assert refreshed >= 1
    assert len(requests) >= 2
    # Every refused request was sent again with the new token and answered: no failed MCP step.
    assert failed_steps(metrics) == 0
    assert metrics["checks"]["values"]["rate"] == 1.0
    # The refused requests are counted as the failed HTTP requests they were, never hidden.
    failed = metrics["http_req_failed"]["values"]
    assert round(failed["rate"] * metrics["http_reqs"]["values"]["count"]) == refreshed


async def test_each_vu_acts_as_its_own_tenant(tmp_path: Path) -> None:
    tenants = {"tenant-a": "secret-a-3c9d1e", "tenant-b": "secret-b-8e2f4a"}
    rows = [{"client_id": name, "client_secret": secret} for name, secret in tenants.items()]
    (tmp_path / "tenants.json").write_text(json.dumps(rows))
    with authorization_server(clients=tenants) as auth, protected_server(auth) as server:
        config = oauth_config(server.url, {"type": "client_credentials", "credentials": "tenants"}, vus=4)
        config["datasets"] = {"tenants": {"file": "tenants.json"}}
        path = config_file(tmp_path / "mcpgate.yaml", config)
        code, out, err = await mcpgate("run", "-c", str(path), "--no-progress", "--workers", "1", env=env())
        assert code == exitcodes.OK, out + err
        requests, accepted = auth.requests(), server.accepted()
    # VUs 1 and 3 are tenant-a (as the preflight was: the first row), 2 and 4 tenant-b:
    # one token each, shared by its VUs.
    assert [r["client"] for r in requests] == ["tenant-a", "tenant-b"]
    assert {a["client"] for a in accepted} == set(tenants)
    for secret in tenants.values():
        assert secret not in out + err


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


async def test_private_key_jwt_signs_for_the_client(tmp_path: Path) -> None:
    private, public = rsa_pair()
    other, _ = rsa_pair()
    with authorization_server(clients={"jwt:key-client": public}) as auth, protected_server(auth) as server:
        config = oauth_config(
            server.url, {"client_id": "key-client", "private_key": "${KEY}"}, vus=2, duration="1s"
        )  # client_auth: private_key_jwt, implied by the key
        path = config_file(tmp_path / "mcpgate.yaml", config)
        code, out, err = await mcpgate(
            "run", "-c", str(path), "--no-progress", "--workers", "1", "--out", str(tmp_path / "results.json"),
            env={**os.environ, "KEY": private},
        )  # fmt: skip
        assert code == exitcodes.OK, out + err
        bad, bad_out, bad_err = await mcpgate(
            "run", "-c", str(path), "--no-progress", "--workers", "1", env={**os.environ, "KEY": other}
        )
        requests = auth.requests()
    assert [(r["method"], r["client"], r["ok"]) for r in requests] == [
        ("private_key_jwt", "key-client", True),
        ("private_key_jwt", "key-client", False),  # signed with a key the server does not know
    ]
    assert bad == exitcodes.COULD_NOT_START
    assert "invalid_client: client key-client is unknown or revoked" in bad_out
    seen = artefacts(tmp_path, out, err, bad_out, bad_err)
    for line in (*private.splitlines()[1:-1], *other.splitlines()[1:-1]):
        assert line not in seen


async def test_the_legacy_sse_transport_carries_the_token_on_its_stream_and_its_posts() -> None:
    with authorization_server() as auth, protected_server(auth, "sse") as server:
        code, out, err = await mcpgate(
            "probe", server.url, "--transport", "sse", "--auth", "client_credentials", "--client-id", CLIENT_ID,
            "--call", "get_record", "--args", '{"id": "rec_3"}',
            env={**os.environ, "MCPGATE_CLIENT_SECRET": CLIENT_SECRET},
        )  # fmt: skip
        assert code == exitcodes.OK, out + err
        assert [r["resource"] for r in auth.requests()] == [server.url]
    assert "✓ sse/connect" in out
    assert "✓ tools/call get_record" in out


async def test_a_server_that_refuses_every_token_gets_one_retry_not_a_storm() -> None:
    with authorization_server(life=-60) as auth, protected_server(auth) as server:  # issued expired
        code, out, err = await mcpgate(
            "probe", server.url, "--auth", "client_credentials", "--client-id", CLIENT_ID,
            env={**os.environ, "MCPGATE_CLIENT_SECRET": CLIENT_SECRET},
        )  # fmt: skip
        requests = auth.requests()
    assert code == exitcodes.CHECK_FAILED, out + err
    assert "FAILED: http_error 401: Authentication required" in out
    # server/discover refused, its token replaced and refused again; initialize refused at once:
    # the first token and its one replacement, however many requests the server refuses.
    assert [line.split()[1] for line in out.splitlines() if "401" in line and line.startswith("  ")] == [
        "server/discover",
        "server/discover",
        "initialize",
    ]
    assert len(requests) == 2


async def test_token_requests_leave_through_the_runs_proxy_as_the_mcp_requests_do(protected: Protected) -> None:  # noqa: F811
    user, password = "gate", "pr0xy-pa55-oauth"
    with squid(hosts={"localhost": "127.0.0.1"}, users={user: password}) as proxy:
        code, out, err = await mcpgate(
            "probe", protected.url, "--proxy", proxy.url(user, password),
            "--auth", "client_credentials", "--client-id", CLIENT_ID,
            env={**clean_env(), "MCPGATE_CLIENT_SECRET": CLIENT_SECRET},
        )  # fmt: skip
        log = proxy.log()
    assert code == exitcodes.OK, out + err
    token_url = f"{protected.auth.issuer}/token"
    assert f"POST {token_url}" in log  # the token request, through squid with the run's credentials
    assert f"POST {protected.url}" in log  # and the MCP requests
    assert user in log
    assert password not in out + err
    assert CLIENT_SECRET not in out + err


def clean_env() -> dict[str, str]:
    """This process's environment without any proxy of its own: the run's ``--proxy`` is the one."""
    return {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
