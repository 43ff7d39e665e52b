"""A purpose-built MCP server that mixes up its answers between sessions, as one real framework does.

Each session is its own (an ``Mcp-Session-Id`` per initialize), every response carries the right
JSON-RPC id, and every result is well formed; but ``get_record`` works a little while and then
answers with the record the server was asked for most recently, by any session. Under concurrent
load most answers are another request's result under this request's id: only a check of the
content (``expect:``) can tell.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web

from tests.aioserve import serve

Json = dict[str, Any]
VERSION = "2025-11-25"
TOOL: Json = {
    "name": "get_record",
    "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    "annotations": {"readOnlyHint": True},
}


class MixupServer:
    def __init__(self, work: float = 0.02) -> None:
        self.work = work
        self.latest = ""  # the id the server was last asked for, by anyone
        self.mixed = 0  # answers that carried another request's record
        self.app = web.Application()
        self.app.router.add_route("*", "/mcp", self._mcp)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self._runner, base = await serve(self.app)
        self.url = base + "/mcp"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _mcp(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405 if request.method == "GET" else 200)
        message: Json = json.loads(await request.read())
        method = message.get("method")
        if "id" not in message:
            return web.Response(status=202)
        if method == "initialize":
            result: Json = {
                "protocolVersion": VERSION,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "mixup", "version": "1.0"},
            }
            return _answer(message, result, {"Mcp-Session-Id": uuid.uuid4().hex})
        if method == "tools/list":
            return _answer(message, {"tools": [TOOL]})
        if method == "tools/call":
            return _answer(message, await self._get_record(message["params"]["arguments"]["id"]))
        return web.json_response({"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "no"}})

    async def _get_record(self, asked: str) -> Json:
        self.latest = asked
        await asyncio.sleep(self.work)
        record = {"id": self.latest, "title": f"Record {self.latest}"}
        self.mixed += self.latest != asked
        return {"content": [{"type": "text", "text": json.dumps(record)}], "structuredContent": record}


def _answer(message: Json, result: Json, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": message["id"], "result": result}, headers=headers)
