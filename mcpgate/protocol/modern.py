"""The stateless 2026-07-28 protocol: per-request ``_meta``, mirrored headers, ``resultType``.

No handshake and no session: every request says who the client is and which
version it speaks, in ``params._meta`` and again in headers that proxies can
route on (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``, and
``Mcp-Param-*`` for tool arguments a server marks with ``x-mcp-header``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mcpgate.protocol.jsonrpc import JSONObject

VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"

METHOD_HEADER = "Mcp-Method"
NAME_HEADER = "Mcp-Name"
PARAM_HEADER_PREFIX = "Mcp-Param-"
NAME_PARAM = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}

# Codes a modern server answers with HTTP 400; they prove the server is modern.
HEADER_MISMATCH = -32020
MISSING_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022
MODERN_ERROR_CODES = frozenset({HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION})

_SAFE_VALUE = re.compile(r"[\x20-\x7E]*")
_SENTINEL = re.compile(r"=\?base64\?.*\?=")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_MAX_SAFE_INT = 2**53 - 1


def meta(version: str, client_info: Mapping[str, str]) -> JSONObject:
    return {VERSION_KEY: version, CLIENT_INFO_KEY: dict(client_info), CLIENT_CAPABILITIES_KEY: {}}


def encode_header_value(value: str) -> str:
    """Plain when it survives as an HTTP field value, else the ``=?base64?…?=`` sentinel."""
    if _SAFE_VALUE.fullmatch(value) and value == value.strip() and not _SENTINEL.fullmatch(value):
        return value
    return "=?base64?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


def request_headers(method: str, params: Mapping[str, Any] | None) -> dict[str, str]:
    headers = {METHOD_HEADER: method}
    key = NAME_PARAM.get(method)
    if key is not None and params is not None and isinstance(params.get(key), str):
        headers[NAME_HEADER] = encode_header_value(params[key])
    return headers


ParamHeader = tuple[tuple[str, ...], str]  # (property path, header name)


def param_headers(input_schema: Any) -> tuple[list[ParamHeader], str | None]:
    """The ``Mcp-Param-*`` headers a tool's schema asks for, or why the tool must be refused.

    An annotation counts only on a property reached through ``properties`` keys
    alone, with a primitive type and a token name unique regardless of case.
    """
    found: list[ParamHeader] = []
    if not isinstance(input_schema, dict):
        return found, None
    allowed: set[int] = set()
    seen: set[str] = set()
    for path, prop in _property_chain(input_schema, ()):
        if "x-mcp-header" not in prop:
            continue
        allowed.add(id(prop))
        token = prop["x-mcp-header"]
        where = ".".join(path)
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            return [], f"x-mcp-header on {where!r} is not an HTTP token"
        if token.lower() in seen:
            return [], f"x-mcp-header {token!r} is used twice"
        seen.add(token.lower())
        if prop.get("type") not in ("string", "integer", "boolean"):
            return [], f"x-mcp-header on {where!r} is not on a string, integer or boolean property"
        found.append((path, PARAM_HEADER_PREFIX + token))
    for node in _all_nodes(input_schema):
        if "x-mcp-header" in node and id(node) not in allowed:
            return [], "x-mcp-header outside a plain chain of properties"
    return found, None


def _property_chain(schema: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    props = schema.get("properties")
    if not isinstance(props, dict):
        return
    for key, prop in props.items():
        if isinstance(prop, dict):
            yield (*path, key), prop
            yield from _property_chain(prop, (*path, key))


def _all_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _all_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_nodes(value)


def render_param(value: Any) -> str | None:
    """A header value for an argument, or None when the spec says to omit it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) <= _MAX_SAFE_INT else None
    if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_SAFE_INT:
        return str(int(value))
    if isinstance(value, str):
        return value
    return None


def argument_headers(spec: list[ParamHeader], arguments: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for path, header in spec:
        value: Any = arguments
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
            if value is None:
                break
        if value is not None and (rendered := render_param(value)) is not None:
            headers[header] = encode_header_value(rendered)
    return headers


def server_info(result: Mapping[str, Any]) -> Any:
    result_meta = result.get("_meta")
    if isinstance(result_meta, dict) and SERVER_INFO_KEY in result_meta:
        return result_meta[SERVER_INFO_KEY]
    return result.get("serverInfo")
