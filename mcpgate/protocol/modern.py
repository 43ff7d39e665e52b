"""The stateless 2026-07-28 protocol: per-request ``_meta``, mirrored headers, ``resultType``.

No handshake and no session: every request says who the client is and which
version it speaks, in ``params._meta`` and again in headers that proxies can
route on (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``, and
``Mcp-Param-*`` for tool arguments a server marks with ``x-mcp-header``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
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

_SAFE_VALUE = re.compile(r"[\x20-\x7E]*")
_SENTINEL = re.compile(r"=\?base64\?.*\?=")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_MAX_SAFE_INT = 2**53 - 1


def meta(version: str, client_info: Mapping[str, str], capabilities: JSONObject | None = None) -> JSONObject:
    """What every request says of the client: the capabilities only for what it answers."""
    return {VERSION_KEY: version, CLIENT_INFO_KEY: dict(client_info), CLIENT_CAPABILITIES_KEY: capabilities or {}}


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


MAX_SCHEMA_DEPTH = 64  # deeper schemas are refused rather than walked


def param_headers(input_schema: Any) -> tuple[list[ParamHeader], str | None]:
    """The ``Mcp-Param-*`` headers a tool's schema asks for, or why the tool must be refused.

    An annotation counts only on a property reached through ``properties`` keys
    alone, with a primitive type and a token name unique regardless of case.
    Both walks are iterative and bounded: a schema is server input.
    """
    if not isinstance(input_schema, dict):
        return [], None
    found, allowed, problem = _property_headers(input_schema)
    if problem is None:
        problem = _stray_annotation(input_schema, allowed)
    if problem is not None:
        return [], problem
    found.sort()
    return found, None


def _property_headers(input_schema: dict[str, Any]) -> tuple[list[ParamHeader], set[int], str | None]:
    """The annotations on chains of ``properties``: the headers, the annotated nodes (by id), or a problem."""
    found: list[ParamHeader] = []
    allowed: set[int] = set()
    seen: set[str] = set()
    chain: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), input_schema)]
    while chain:
        path, node = chain.pop()
        props = node.get("properties")
        if not isinstance(props, dict):
            continue
        for key, prop in props.items():
            if not isinstance(prop, dict):
                continue
            where = (*path, str(key))
            if len(where) > MAX_SCHEMA_DEPTH:
                return found, allowed, f"inputSchema nests properties deeper than {MAX_SCHEMA_DEPTH}"
            chain.append((where, prop))
            if "x-mcp-header" not in prop:
                continue
            allowed.add(id(prop))
            token = prop["x-mcp-header"]
            dotted = ".".join(where)
            if not isinstance(token, str) or not _TOKEN.fullmatch(token):
                return found, allowed, f"x-mcp-header on {dotted!r} is not an HTTP token"
            if token.lower() in seen:
                return found, allowed, f"x-mcp-header {token!r} is used twice"
            seen.add(token.lower())
            if prop.get("type") not in ("string", "integer", "boolean"):
                return found, allowed, f"x-mcp-header on {dotted!r} is not on a string, integer or boolean property"
            found.append((where, PARAM_HEADER_PREFIX + token))
    return found, allowed, None


def _stray_annotation(input_schema: dict[str, Any], allowed: set[int]) -> str | None:
    """An annotation anywhere but on those chains (or a schema too deep to walk): why to refuse."""
    nodes: list[tuple[Any, int]] = [(input_schema, 0)]
    while nodes:
        node, depth = nodes.pop()
        if depth > MAX_SCHEMA_DEPTH:
            return f"inputSchema nests deeper than {MAX_SCHEMA_DEPTH} levels"
        if isinstance(node, dict):
            if "x-mcp-header" in node and node is not input_schema and id(node) not in allowed:
                return "x-mcp-header outside a plain chain of properties"
            nodes.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            nodes.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return None


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
