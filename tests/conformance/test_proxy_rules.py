"""Which origins go through which proxy: NO_PROXY as curl and requests read it, and the environment
against the target's own settings."""

from __future__ import annotations

import pytest

from mcpgate.protocol.wire.proxy import Proxy, bypassed, no_proxy_entries, parse_proxy, rules_from

MATCHES = [
    ("example.com", "example.com", 443, True),
    ("example.com", "api.example.com", 443, True),
    (".example.com", "api.example.com", 443, True),
    (".example.com", "example.com", 443, True),
    ("example.com", "badexample.com", 443, False),
    ("example.com:8443", "example.com", 8443, True),
    ("example.com:8443", "example.com", 443, False),
    ("*", "anything.test", 80, True),
    ("10.0.0.0/8", "10.1.2.3", 80, True),
    ("10.0.0.0/8", "11.1.2.3", 80, False),
    ("127.0.0.1", "127.0.0.1", 80, True),
    ("::1", "::1", 80, True),
    ("[::1]:8080", "::1", 8080, True),
    ("[::1]:8080", "::1", 80, False),
    ("EXAMPLE.com", "Example.COM", 80, True),
    ("localhost, .internal", "mcp.internal", 80, True),
    ("", "example.com", 80, False),
]


@pytest.mark.parametrize(("entries", "host", "port", "direct"), MATCHES)
def test_no_proxy_matching(entries: str, host: str, port: int, direct: bool) -> None:
    assert bypassed(no_proxy_entries(entries), host, port) is direct


def test_the_environment_lowercase_first_and_no_proxy_applies() -> None:
    env = {
        "HTTP_PROXY": "http://upper:3128",
        "http_proxy": "http://lower:3128",
        "HTTPS_PROXY": "proxy.corp:8080",
        "NO_PROXY": ".internal",
    }
    rules, used = rules_from(None, None, env)
    assert rules is not None
    assert rules.route("http", "mcp.example.com", 80) == Proxy("lower", 3128)
    assert rules.route("https", "mcp.example.com", 443) == Proxy("proxy.corp", 8080)
    assert rules.route("https", "mcp.internal", 443) is None
    assert sorted(used) == ["http://lower:3128", "proxy.corp:8080"]


def test_all_proxy_is_the_fallback_for_both_schemes() -> None:
    rules, _ = rules_from(None, None, {"ALL_PROXY": "http://all:1"})
    assert rules is not None
    assert rules.http == rules.https == Proxy("all", 1)


def test_the_targets_settings_win_over_the_environment() -> None:
    env = {"https_proxy": "http://env:1", "no_proxy": "mcp.example.com"}
    rules, _ = rules_from("http://u:p@mine:3128", "other.test", env)
    assert rules is not None
    assert rules.route("https", "mcp.example.com", 443) == parse_proxy("http://u:p@mine:3128")
    assert rules.route("http", "other.test", 80) is None


@pytest.mark.parametrize("no_proxy", ["*", " * "])
def test_no_proxy_star_turns_the_environments_proxy_off(no_proxy: str) -> None:
    rules, used = rules_from(None, no_proxy, {"HTTPS_PROXY": "http://env:1"})
    assert rules is None
    assert used == ["http://env:1"]  # still a secret to mask


def test_no_proxy_at_all_is_no_rules() -> None:
    assert rules_from(None, None, {}) == (None, [])


def test_proxy_credentials_become_basic_and_never_the_reason() -> None:
    proxy = parse_proxy("http://gate%40corp:p%3Ass@proxy:8080")
    assert proxy.authorization == "Basic Z2F0ZUBjb3JwOnA6c3M="  # gate@corp:p:ss
    assert proxy.where == "proxy:8080"
    for bad, reason in [
        ("socks5://u:secret@proxy:1080", "only http:// proxies are supported, not socks5://"),
        ("https://u:secret@proxy", "only http:// proxies are supported, not https://"),
        ("http://u:secret@proxy:99999", "has a port that is not a number from 0 to 65535"),
        ("http://", "has no host"),
    ]:
        with pytest.raises(ValueError) as caught:  # noqa: PT011 - the whole message is compared below
            parse_proxy(bad)
        assert str(caught.value) == reason


def test_an_unusable_environment_proxy_names_its_variable() -> None:
    with pytest.raises(ValueError, match=r"^https_proxy: only http:// proxies are supported"):
        rules_from(None, None, {"HTTPS_PROXY": "socks5://proxy:1080"})
