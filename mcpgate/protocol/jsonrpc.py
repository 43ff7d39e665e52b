"""JSON-RPC 2.0 framing: encode requests, decode and check every message.

A response counts only if it says ``"jsonrpc": "2.0"``, carries exactly the id we
sent, and has exactly one of ``result`` or ``error``. Anything else is named as
the protocol error it is.
"""

from __future__ import annotations

from typing import Any

import orjson

from mcpgate.protocol.outcome import Failure, Kind, fail, protocol_error, shorten

JSONObject = dict[str, Any]
RequestId = int | str

# Codes a 2026-07-28 server answers with HTTP 400; they prove the server is modern.
HEADER_MISMATCH = -32020
MISSING_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022
MODERN_ERROR_CODES = frozenset({HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION})


def encode_request(request_id: RequestId, method: str, params: JSONObject | None) -> bytes:
    msg: JSONObject = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        msg["params"] = params
    return orjson.dumps(msg)


def encode_notification(method: str, params: JSONObject | None = None) -> bytes:
    msg: JSONObject = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return orjson.dumps(msg)


def encode_result(request_id: RequestId, result: JSONObject) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def encode_error(request_id: RequestId, code: int, message: str) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})


def decode(data: bytes, where: str) -> Any:
    """Parse JSON, naming invalid JSON or invalid UTF-8 as a protocol error."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        snippet = data[:60].decode("utf-8", "replace")
        raise protocol_error(f"invalid JSON in {where}: {exc.args[0] if exc.args else exc} ({snippet!r})") from None


def is_response(msg: Any) -> bool:
    return isinstance(msg, dict) and "method" not in msg and ("result" in msg or "error" in msg or "id" in msg)


def is_request(msg: Any) -> bool:
    return isinstance(msg, dict) and "method" in msg and "id" in msg


def is_notification(msg: Any) -> bool:
    return isinstance(msg, dict) and "method" in msg and "id" not in msg


def same_id(a: Any, b: RequestId) -> bool:
    # 1 and "1" are different ids, and True is not 1.
    return type(a) is type(b) and a == b


def check_response(msg: Any, request_id: RequestId, *, http_status: int | None = None) -> JSONObject:
    """Return ``result`` of a response to ``request_id`` or raise the failure it is."""
    if not isinstance(msg, dict):
        raise protocol_error(f"expected a JSON-RPC response object, got {type(msg).__name__}", http_status=http_status)
    if msg.get("jsonrpc") != "2.0":
        raise protocol_error(f"response has jsonrpc={msg.get('jsonrpc')!r}, not '2.0'", http_status=http_status)
    if "id" not in msg:
        raise protocol_error("response has no id", http_status=http_status)
    if msg["id"] is None and isinstance(msg.get("error"), dict):
        # JSON-RPC's answer when the server could not read our id (parse error, invalid request).
        raise error_failure(msg["error"], http_status)
    if not same_id(msg["id"], request_id):
        raise protocol_error(
            f"response id {msg['id']!r} does not match request id {request_id!r}", http_status=http_status
        )
    has_result, has_error = "result" in msg, "error" in msg
    if has_result == has_error:
        raise protocol_error("response must carry exactly one of result and error", http_status=http_status)
    if has_error:
        raise error_failure(msg["error"], http_status)
    result = msg["result"]
    if not isinstance(result, dict):
        raise protocol_error(f"result is {type(result).__name__}, not an object", http_status=http_status)
    return result


def error_failure(error: Any, http_status: int | None) -> Failure:
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return protocol_error(f"malformed JSON-RPC error object: {shorten(repr(error), 80)}", http_status=http_status)
    message = error.get("message")
    reason = shorten(message) if isinstance(message, str) else "(no message)"
    return fail(Kind.JSONRPC_ERROR, reason, code=error["code"], http_status=http_status)


class IdSource:
    """Request ids for one client: integers that never repeat, across all its sessions."""

    __slots__ = ("_next",)

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def __call__(self) -> int:
        value = self._next
        self._next = value + 1
        return value
