"""``target.auth`` checked before any traffic: each mistake one line naming its key; every secret registered."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from mcpgate.config.assemble import Overrides, merged_auth
from mcpgate.protocol.auth.errors import TokenError
from mcpgate.protocol.auth.grant import AuthSpec, Credentials
from mcpgate.protocol.auth.token import parse_answer, token_form
from mcpgate.support.errors import UsageError
from tests.run.helpers import plan_from

URL = "http://127.0.0.1:1/mcp"
SCENARIO = {"s": {"executor": "constant-vus", "vus": 1, "duration": "1s"}}


def plan(tmp_path: Path, target: dict[str, Any], **more: Any) -> Any:
    return plan_from(tmp_path, {"target": {"url": URL, **target}, "scenarios": SCENARIO, **more})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"bearer_token": "tok-1234", "auth": {"client_id": "c", "client_secret": "s3cr"}}, "target.auth: "),
        ({"auth": {"type": "client_credentials"}}, "target.auth.client_id: required with type: client_credentials"),
        ({"auth": {"client_id": "c"}}, "target.auth.client_secret: required with type: client_credentials"),
        (
            {"auth": {"client_id": "c", "client_secret": "s3cr", "client_auth": "none"}},
            "target.auth.client_auth: a confidential client",
        ),
        ({"auth": {"type": "refresh_token"}}, "target.auth.refresh_token: required with type: refresh_token"),
        ({"auth": {"type": "bearer"}}, "target.auth.token: required with type: bearer"),
        ({"auth": {"type": "bearer", "token": "t0k3n", "scope": "x"}}, "target.auth.scope: does not apply to type"),
        (
            {"auth": {"client_id": "c", "client_secret": "s3cr", "refresh_token": "rt-1"}, "headers": {}},
            "",  # a refresh token implies type: refresh_token, which takes a client too: fine
        ),
        (
            {"auth": {"type": "client_credentials", "client_id": "c", "client_secret": "s3cr", "refresh_token": "r"}},
            "target.auth.refresh_token: does not apply to type: client_credentials",
        ),
        ({"auth": {"client_id": "c", "client_secret": "s3cr", "token_url": "ftp://x"}}, "target.auth.token_url: "),
        ({"auth": {"client_id": "c", "client_secret": "s3cr", "scope": " "}}, "target.auth.scope: must be one"),
        (
            {"auth": {"client_id": "c", "client_secret": "s3cr"}, "headers": {"Authorization": "Basic eA=="}},
            "target.auth: an Authorization header is set too",
        ),
        ({"auth": {"credentials": "nope"}}, "target.auth.credentials: no dataset named 'nope'"),
        (
            {"auth": {"client_id": "c", "private_key": "-----BEGIN PRIVATE KEY-----\ns3cr\n"}},
            "target.auth.private_key: not an unencrypted PEM private key",
        ),
        (
            {"auth": {"client_id": "c", "client_secret": "s3cr", "client_auth": "private_key_jwt"}},
            "target.auth.private_key: required with client_auth: private_key_jwt",
        ),
    ],
)
def test_each_mistake_names_its_key(tmp_path: Path, target: dict[str, Any], message: str) -> None:
    if not message:
        plan(tmp_path, target)
        return
    with pytest.raises(UsageError) as caught:
        plan(tmp_path, target)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert "s3cr" not in text


def test_a_tenant_row_without_its_secret_names_the_row(tmp_path: Path) -> None:
    (tmp_path / "tenants.json").write_text('[{"client_id": "a", "client_secret": "sa-1234"}, {"client_id": "b"}]')
    with pytest.raises(UsageError, match=r"datasets\.tenants\[1\]\.client_secret: required"):
        plan(tmp_path, {"auth": {"credentials": "tenants"}}, datasets={"tenants": {"file": "tenants.json"}})


def test_every_secret_is_registered_before_any_traffic(tmp_path: Path) -> None:
    (tmp_path / "tenants.csv").write_text("client_id,client_secret\nt-a,secret-a-0001\nt-b,secret-b-0002\n")
    auth = {"client_id": "main", "client_secret": "main-secret-9", "credentials": "tenants"}
    built = plan(tmp_path, {"auth": auth}, datasets={"tenants": {"file": "tenants.csv"}})
    basic = base64.b64encode(b"t-a:secret-a-0001").decode()
    for secret in ("main-secret-9", "secret-a-0001", "secret-b-0002", basic):
        assert secret in built.redact.secrets
    source = built.connect.auth
    assert source is not None
    assert (source.spec.resource, source.spec.token_url) == (URL, None)  # RFC 8707: the MCP URL by default
    assert [source.for_vu(n)._credentials.client_id for n in (1, 2, 3)] == ["t-a", "t-b", "t-a"]


def test_flags_override_the_config_and_the_environment_fills_in(tmp_path: Path) -> None:
    env = {"client_secret": "from-env-77", "refresh_token": "rt-env-88"}
    # The environment's refresh token is for --auth refresh_token only.
    assert merged_auth({"client_id": "c"}, {}, env) == {"client_id": "c", "client_secret": "from-env-77"}
    assert merged_auth({"client_secret": "own"}, {"type": "refresh_token"}, env) == {
        "client_secret": "own",
        "refresh_token": "rt-env-88",
        "type": "refresh_token",
    }
    flags = Overrides(auth={"client_id": "flag-id"}, env_auth=env)
    built = plan_from(tmp_path, {"target": {"url": URL, "auth": {"client_id": "cfg-id"}}, "scenarios": SCENARIO}, flags)
    assert built.connect.auth is not None
    assert built.connect.auth.spec.credentials == Credentials("flag-id", "from-env-77", None)


def test_the_token_form_for_each_client_authentication() -> None:
    spec = AuthSpec("client_credentials", URL, Credentials("id:1", "p@ss w"), scope="a b", resource=URL)
    form, headers = token_form(spec, spec.credentials, None, "http://as/token")
    assert form == {"grant_type": "client_credentials", "scope": "a b", "resource": URL}
    scheme, _, encoded = headers["Authorization"].partition(" ")
    assert (scheme, base64.b64decode(encoded)) == ("Basic", b"id%3A1:p%40ss%20w")  # RFC 6749 2.3.1
    post = AuthSpec("refresh_token", URL, Credentials("pub", None, "rt-5"), client_auth="none")
    form, headers = token_form(post, post.credentials, "rt-6", "http://as/token")
    assert (form, headers) == ({"grant_type": "refresh_token", "refresh_token": "rt-6", "client_id": "pub"}, {})


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (401, b'{"error": "invalid_client", "error_description": "unknown client"}', "401: invalid_client: unknown"),
        (400, b'{"error": "invalid_scope"}', "400: invalid_scope"),
        (502, b"<html>Bad gateway</html>", "502: '<html>Bad gateway</html>'"),
        (200, b'{"token_type": "Bearer"}', "200: no access_token"),
        (200, b'{"access_token": "x", "token_type": "mac"}', "issued a 'mac' token"),
    ],
)
def test_a_refusal_says_what_the_server_said(status: int, body: bytes, reason: str) -> None:
    with pytest.raises(TokenError, match=reason.replace("(", r"\(")):
        parse_answer("http://as/token", status, body)


def test_an_answer_gives_the_token_its_lifetime_and_a_rotated_refresh_token() -> None:
    answer = parse_answer("u", 200, b'{"access_token": "at", "expires_in": "60", "refresh_token": "rt2"}')
    assert (answer.access_token, answer.expires_in, answer.refresh_token) == ("at", 60.0, "rt2")
    assert parse_answer("u", 200, b'{"access_token": "at", "expires_in": 0}').expires_in is None
