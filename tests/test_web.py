"""support.web: which proxy the environment picks for a URL, and that its login is a secret."""

from __future__ import annotations

import pytest

from mcpgate.support.redact import Redactor, redact_env_proxies
from mcpgate.support.web import env_proxy

VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_the_scheme_picks_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain:pw-plain-1@127.0.0.1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://tunnel:pw-tunnel-2@127.0.0.1:3129")
    plain, tunnel = env_proxy("http://127.0.0.1:9/status"), env_proxy("https://127.0.0.1:9/status")
    assert plain is not None
    assert tunnel is not None
    assert (plain.address, plain.url) == ("http://127.0.0.1:3128", "http://plain:pw-plain-1@127.0.0.1:3128")
    assert tunnel.address == "http://127.0.0.1:3129"
    assert "pw-tunnel-2" not in repr(tunnel)


@pytest.mark.parametrize(
    ("no_proxy", "direct"), [("", False), ("127.0.0.1", True), ("example.com", False), ("*", True)]
)
def test_loopback_is_proxied_unless_no_proxy_says(monkeypatch: pytest.MonkeyPatch, no_proxy: str, direct: bool) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert (env_proxy("http://127.0.0.1:9/status") is None) is direct


def test_no_variable_no_proxy() -> None:
    assert env_proxy("http://127.0.0.1:9/status") is None


def test_every_proxy_login_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://u1:s3cret-one@127.0.0.1:3128")
    monkeypatch.setenv("https_proxy", "u2:s3cret-two@127.0.0.1:3129")  # no scheme, as some set it
    redact = redact_env_proxies(Redactor())
    assert redact("a s3cret-one and a s3cret-two") == "a *** and a ***"
