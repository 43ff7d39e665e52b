from __future__ import annotations

from mcpgate.support.redact import MASK, Redactor


def test_tokens_and_header_values_are_masked_anywhere() -> None:
    r = Redactor(["s3cr3t-token"])
    r.add_headers({"X-Api-Key": "key-12345", "Authorization": "Basic dXNlcjpwYXNz", "Accept": "text/plain"})
    text = "got s3cr3t-token and key-12345 and dXNlcjpwYXNz but text/plain"
    assert r(text) == f"got {MASK} and {MASK} and {MASK} but text/plain"


def test_url_credentials_and_token_params() -> None:
    r = Redactor()
    url = "https://bob:hunter22@mcp.example.com:8443/mcp?api_key=abcd1234&tenant=acme"
    r.add_url(url)
    shown = r.url(url)
    assert "hunter22" not in shown
    assert "abcd1234" not in shown
    assert shown.startswith("https://bob:***@mcp.example.com:8443/mcp?")
    assert "tenant=acme" in shown
    assert r("server echoed hunter22") == f"server echoed {MASK}"


def test_short_values_are_not_treated_as_secrets() -> None:
    r = Redactor(["abc"])
    assert r("abcdef") == "abcdef"


def test_headers_for_display() -> None:
    r = Redactor()
    assert r.headers({"Authorization": "Bearer x", "X-Trace": "1"}) == {"Authorization": MASK, "X-Trace": "1"}
