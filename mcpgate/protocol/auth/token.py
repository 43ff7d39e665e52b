"""One token request (RFC 6749 section 4.4 and 6, with RFC 8707's ``resource``) and its answer."""

from __future__ import annotations

import base64
from urllib.parse import quote

import aiohttp
import orjson

from mcpgate.protocol.auth.assertion import ASSERTION_TYPE, client_assertion
from mcpgate.protocol.auth.errors import TokenError
from mcpgate.protocol.auth.grant import (
    BASIC,
    POST,
    PRIVATE_KEY_JWT,
    REFRESH_TOKEN,
    AuthSpec,
    Credentials,
    TokenAnswer,
)
from mcpgate.protocol.outcome import shorten
from mcpgate.support.web import RoutedWeb, read_capped

MAX_ANSWER_BYTES = 256 * 1024


async def request_token(
    http: RoutedWeb, endpoint: str, spec: AuthSpec, credentials: Credentials, refresh_token: str | None
) -> TokenAnswer:
    form, headers = token_form(spec, credentials, refresh_token, endpoint)
    try:
        async with http.post(endpoint, data=form, headers={"Accept": "application/json", **headers}) as resp:
            status = resp.status
            body = await read_capped(resp, MAX_ANSWER_BYTES)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else shorten(str(exc) or type(exc).__name__, 120)
        raise TokenError(f"token request to {endpoint} failed: {reason}") from None
    if body is None:
        raise TokenError(f"token endpoint {endpoint} answered more than {MAX_ANSWER_BYTES} bytes")
    return parse_answer(endpoint, status, body)


def token_form(
    spec: AuthSpec, credentials: Credentials, refresh_token: str | None, endpoint: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The form to POST, and its Authorization header when the client authenticates with Basic."""
    form = {"grant_type": spec.grant}
    if spec.grant == REFRESH_TOKEN:
        form["refresh_token"] = refresh_token or ""
    if spec.scope:
        form["scope"] = spec.scope
    if spec.resource:
        form["resource"] = spec.resource
    client_id, secret = credentials.client_id, credentials.client_secret
    if spec.client_auth == BASIC and client_id is not None:
        # RFC 6749 2.3.1: both are form-encoded before they are joined
        joined = f"{quote(client_id, safe='')}:{quote(secret or '', safe='')}"
        return form, {"Authorization": "Basic " + base64.b64encode(joined.encode()).decode("ascii")}
    if client_id is not None:
        form["client_id"] = client_id
    if spec.client_auth == POST and secret is not None:
        form["client_secret"] = secret
    if spec.client_auth == PRIVATE_KEY_JWT and client_id is not None and credentials.private_key is not None:
        form["client_assertion_type"] = ASSERTION_TYPE
        form["client_assertion"] = client_assertion(client_id, credentials.private_key, endpoint, credentials.key_id)
    return form, {}


def parse_answer(endpoint: str, status: int, body: bytes) -> TokenAnswer:
    doc = _json(body)
    access = doc.get("access_token") if doc is not None else None
    if status != 200 or doc is None or not isinstance(access, str) or not access:
        raise TokenError(f"token endpoint {endpoint} answered {status}: {_refusal(status, doc, body)}")
    kind = doc.get("token_type")
    if isinstance(kind, str) and kind.lower() not in ("bearer", "dpop"):
        raise TokenError(f"token endpoint {endpoint} issued a {shorten(kind, 40)!r} token, not a Bearer token")
    expires = doc.get("expires_in")
    if isinstance(expires, str):
        try:
            expires = float(expires)
        except ValueError:
            expires = None
    lifetime = float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else None
    refresh = doc.get("refresh_token")
    return TokenAnswer(
        access,
        lifetime if lifetime is not None and lifetime > 0 else None,
        refresh if isinstance(refresh, str) and refresh else None,
    )


def _refusal(status: int, doc: dict[str, object] | None, body: bytes) -> str:
    if doc is not None and isinstance(doc.get("error"), str):
        error = shorten(str(doc["error"]), 60)
        description = doc.get("error_description")
        return f"{error}: {shorten(str(description), 160)}" if isinstance(description, str) else error
    if status == 200:
        return "no access_token in the answer"
    text = body[:200].decode("utf-8", "replace").strip()
    return repr(shorten(text, 100)) if text else "an empty body"


def _json(body: bytes) -> dict[str, object] | None:
    if len(body) > MAX_ANSWER_BYTES:
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None
