"""A stateful Streamable HTTP server in raw bytes, for cases about the HTTP around MCP (cookies, redirects).

``answer(req)`` is what a plain server replies to one request: initialize gives a session id,
notifications get 202, tools/list one tool, tools/call a text, the GET stream 405, DELETE 200.
A case changes the answers it cares about and leaves the rest to ``answer``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from mcpgate.protocol.http import HttpSettings, make_http
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.records import Step, Target
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.transport import Streams
from mcpgate.protocol.wire.pool import Pool
from tests.conformance.rawserver import Case, RawConn, RawRequest, response

SESSION = "sess-1"
VERSION = "2025-11-25"


def rpc(req: RawRequest) -> dict[str, object]:
    message: dict[str, object] = json.loads(req.body) if req.body else {}
    return message


def result(req: RawRequest, value: dict[str, object], *headers: str) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": rpc(req)["id"], "result": value}).encode()
    return response(200, body, "Content-Type: application/json", *headers)


def answer(req: RawRequest, *headers: str) -> bytes:
    """A plain stateful server's answer, with ``headers`` added (a Set-Cookie, say)."""
    if req.method == "GET":
        return response(405, b"", "Allow: POST, DELETE", *headers, reason="Method Not Allowed")
    if req.method == "DELETE":
        return response(200, b"", *headers)
    method = rpc(req).get("method")
    if "id" not in rpc(req):
        return response(202, b"", *headers, reason="Accepted")
    if method == "initialize":
        init: dict[str, object] = {
            "protocolVersion": VERSION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "raw", "version": "1"},
        }
        return result(req, init, f"Mcp-Session-Id: {SESSION}", *headers)
    if method == "tools/list":
        return result(req, {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}, *headers)
    return result(req, {"content": [{"type": "text", "text": "ok"}]}, *headers)


Answer = Callable[[RawRequest], bytes]


def serve_all(reply: Answer) -> Case:
    """A case answering every request on every connection with ``reply``."""

    async def case(conn: RawConn) -> None:
        while (req := await conn.request()) is not None:
            conn.send(reply(req))

    return case


SETTINGS = HttpSettings(timeout=5, connect_timeout=2)


def session(
    http: Pool, url: str, steps: list[Step], *, settings: HttpSettings = SETTINGS, listen: bool = False
) -> McpSession:
    target = Target(url, "streamable-http", VERSION, settings)
    return McpSession(http, target, ids=IdSource(), sink=steps.append, streams=Streams(listen=listen))


async def pool() -> AsyncIterator[Pool]:
    async with make_http(SETTINGS) as http:
        yield http


def method_of(req: RawRequest) -> str:
    """What a request was, for asserting on the order of a session's requests."""
    if req.method != "POST":
        return req.method
    return str(rpc(req).get("method"))
