"""A purpose-built misbehaving MCP server: one fault per route, for fault tests.

It speaks just enough MCP (handshake era, JSON responses; 2026-07-28 where a
fault needs it) that a client reaches the step where the fault fires, so each
failure class can be produced on purpose and checked by name. Routes:

    POST/DELETE /{fault}/mcp          Streamable HTTP
    GET /{fault}/mcp                  the standalone GET stream: 405, unless a STREAMS fault shapes it
                                      ("stream-held.mine" is stream-held, counted apart)
    GET /{fault}/sse, POST /{fault}/messages?session_id=...   legacy HTTP+SSE

Faults fire on ``tools/call`` unless their name says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.aioserve import serve

Json = dict[str, Any]
LATEST = "2025-11-25"
TOOLS: list[Json] = [
    {
        "name": "echo",
        "description": "Echo text",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
    {
        "name": "regional",
        "description": "A tool whose region argument is mirrored into a header on 2026-07-28",
        "inputSchema": {
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "opts": {"type": "object", "properties": {"shard": {"type": "integer", "x-mcp-header": "Shard"}}},
                "query": {"type": "string"},
            },
        },
    },
]
BAD_HEADER_TOOL: Json = {
    "name": "bad-header",
    "inputSchema": {"type": "object", "properties": {"x": {"type": "number", "x-mcp-header": "X"}}},
}


def result(msg: Json, res: Json) -> Json:
    return {"jsonrpc": "2.0", "id": msg.get("id"), "result": res}


def error(msg: Json, code: int, message: str) -> Json:
    return {"jsonrpc": "2.0", "id": msg.get("id"), "error": {"code": code, "message": message}}


def sse_frame(payload: Json | str, *, eol: str = "\r\n", event: str | None = "message") -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    head = f"event: {event}{eol}" if event else ""
    return f"{head}data: {data}{eol}{eol}".encode()


Handler = Callable[["FaultServer", web.Request, Json], Awaitable[web.StreamResponse | None]]


class FaultServer:
    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/{fault}/mcp", self._streamable)
        self.app.router.add_get("/{fault}/sse", self._legacy_stream)
        self.app.router.add_post("/{fault}/messages", self._legacy_post)
        self._runner: web.AppRunner | None = None
        self.base = ""
        self.sessions: set[str] = set()
        self.seen: dict[str, list[Json]] = defaultdict(list)  # fault -> messages received
        self.headers: dict[str, list[dict[str, str]]] = defaultdict(list)  # fault -> request headers
        self.counts: dict[str, int] = defaultdict(int)
        self._streams: dict[str, asyncio.Queue[bytes | None]] = {}
        self.stopping = asyncio.Event()
        self.parked: dict[str, Json] = {}  # SSE answers waiting for a resuming GET, by event id
        self.survivors: set[str] = set()  # expire-call: sessions doomed to die at their first call
        self.calls_by_session: dict[str, int] = defaultdict(int)  # Mcp-Session-Id -> tools/call it carried

    async def stall(self, seconds: float) -> None:
        """Hang like a stuck server, but let the test run end without waiting it out."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def start(self) -> None:
        self._runner, base = await serve(self.app)
        self.base = base

    async def stop(self) -> None:
        self.stopping.set()
        for queue in self._streams.values():
            queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, fault: str, path: str = "mcp") -> str:
        return f"{self.base}/{fault}/{path}"

    # -- Streamable HTTP -----------------------------------------------------------------

    async def _streamable(self, request: web.Request) -> web.StreamResponse:
        fault = request.match_info["fault"]
        self.headers[fault].append(dict(request.headers))
        self.counts[f"{fault}:{request.method}"] += 1
        if request.method == "DELETE":
            self.sessions.discard(request.headers.get("Mcp-Session-Id", ""))
            if fault == "delete-404":
                return web.json_response(
                    {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}},
                    status=404,
                )
            if fault == "delete-405":
                return web.Response(status=405, headers={"Allow": "GET, POST"})
            return web.Response(status=200)
        if request.method == "GET" and (last := request.headers.get("Last-Event-ID")) in self.parked:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(sse_frame(self.parked.pop(last)))
            await resp.write_eof()
            return resp
        if request.method == "GET" and (stream := STREAMS.get(fault.partition(".")[0])) is not None:
            return await stream(self, request)
        if request.method != "POST":
            return web.Response(status=405, text="Method Not Allowed")
        msg = json.loads(await request.read())
        self.seen[fault].append(msg)
        if msg.get("method") == "tools/call":
            self.calls_by_session[request.headers.get("Mcp-Session-Id", "")] += 1
        special = FAULTS.get(fault)
        if special is not None:
            answer = await special(self, request, msg)
            if answer is not None:
                return answer
        return await self.default(fault, request, msg)

    async def default(self, fault: str, request: web.Request, msg: Json) -> web.StreamResponse:
        method = msg.get("method")
        if "method" not in msg or "id" not in msg:
            return web.Response(status=202)
        if method == "server/discover":
            return web.Response(status=400, text="Bad Request: no such method")
        if method == "initialize":
            asked = msg.get("params", {}).get("protocolVersion", LATEST)
            sid = uuid.uuid4().hex
            self.sessions.add(sid)
            res = {
                "protocolVersion": asked,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "faults", "version": "0"},
            }
            return web.json_response(result(msg, res), headers={"Mcp-Session-Id": sid})
        if method == "tools/list":
            return web.json_response(result(msg, {"tools": TOOLS}))
        if method == "tools/call":
            text = json.dumps(msg.get("params", {}).get("arguments", {}))
            return web.json_response(result(msg, {"content": [{"type": "text", "text": text}], "isError": False}))
        if method == "ping":
            return web.json_response(result(msg, {}))
        return web.json_response(error(msg, -32601, f"Method not found: {method}"))

    # -- legacy HTTP+SSE -----------------------------------------------------------------

    async def _legacy_stream(self, request: web.Request) -> web.StreamResponse:
        fault = request.match_info["fault"]
        sid = uuid.uuid4().hex
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._streams[sid] = queue
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        endpoint = {
            "legacy-absolute": f"{self.base}/{fault}/messages?sessionId={sid}",
            "legacy-foreign": f"http://localhost:1/{fault}/messages?session_id={sid}",
            "legacy-bad-endpoint": f"http://[::1/{fault}/messages?session_id={sid}",
        }.get(fault, f"messages?session_id={sid}")
        await resp.write(sse_frame(endpoint, event="endpoint"))
        self.counts[f"{fault}:streams"] += 1
        if fault == "legacy-close-early":
            return resp
        try:
            while (item := await queue.get()) is not None:
                await resp.write(item)
        finally:
            self._streams.pop(sid, None)
        return resp

    async def _legacy_post(self, request: web.Request) -> web.StreamResponse:
        fault = request.match_info["fault"]
        sid = request.query.get("session_id") or request.query.get("sessionId", "")
        queue = self._streams.get(sid)
        if queue is None:
            return web.Response(status=404, text="Could not find session")
        msg = json.loads(await request.read())
        self.seen[fault].append(msg)
        if "id" not in msg or "method" not in msg:
            first_stream = self.counts[f"{fault}:streams"] == 1
            if fault == "legacy-die-once" and msg.get("method") == "notifications/initialized" and first_stream:
                queue.put_nowait(None)  # the first stream dies right after the handshake
            return web.Response(status=202, text="Accepted")
        method = msg["method"]
        if method == "initialize":
            res = {
                "protocolVersion": LATEST,
                "capabilities": {},
                "serverInfo": {"name": "faults-legacy", "version": "0"},
            }
            answer: Json = result(msg, res)
        elif method == "tools/list":
            answer = result(msg, {"tools": TOOLS})
        else:
            answer = result(msg, {"content": [{"type": "text", "text": "ok"}]})
        if fault == "legacy-silent" and method == "tools/call":
            return web.Response(status=202, text="Accepted")  # and never answer
        if fault == "legacy-stray" and method == "tools/call":
            answer["id"] = 987654
        queue.put_nowait(sse_frame(answer))
        return web.Response(status=202, text="Accepted")


# -- one function per fault; None falls through to the well-behaved default ---------------


def on_call(fn: Callable[[FaultServer, web.Request, Json], Awaitable[web.StreamResponse]]) -> Handler:
    async def handler(server: FaultServer, request: web.Request, msg: Json) -> web.StreamResponse | None:
        return await fn(server, request, msg) if msg.get("method") == "tools/call" else None

    return handler


@on_call
async def tool_error(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.json_response(result(m, {"content": [{"type": "text", "text": "boom: disk full"}], "isError": True}))


@on_call
async def rpc_error(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.json_response(error(m, -32603, "internal failure in handler"))


@on_call
async def http_500(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.Response(status=500, text="Internal Server Error")


@on_call
async def http_503_json(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": "Too many sessions"}}
    return web.json_response(body, status=503, headers={"Retry-After": "7"})


@on_call
async def http_429(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.Response(status=429, text="slow down", headers={"Retry-After": "3"})


@on_call
async def proxy_html_502(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1>nginx</body></html>"
    return web.Response(status=502, text=page, content_type="text/html")


@on_call
async def html_200(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    page = "<!doctype html><html><head><title>Sign in</title></head><body>login</body></html>"
    return web.Response(status=200, text=page, content_type="text/html")


@on_call
async def stall_headers(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    await s.stall(30)
    return web.Response(status=500)


@on_call
async def stall_body(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(r)
    await resp.write(b"id: 1\r\ndata: \r\n\r\n")
    await s.stall(30)
    return resp


@on_call
async def reset_mid_body(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "4000"})
    await resp.prepare(r)
    await resp.write(b'{"jsonrpc": "2.0", "id": ')
    await asyncio.sleep(0.05)
    assert r.transport is not None
    r.transport.abort()
    return resp


@on_call
async def bad_json(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.Response(status=200, body=b'{"jsonrpc": "2.0", "id": 3, "result": {', content_type="application/json")


@on_call
async def non_utf8(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    body = (
        b'{"jsonrpc": "2.0", "id": '
        + str(m["id"]).encode()
        + b', "result": {"content": [{"type": "text", "text": "\xff\xfe"}]}}'
    )
    return web.Response(status=200, body=body, content_type="application/json")


@on_call
async def wrong_id(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.json_response({"jsonrpc": "2.0", "id": m["id"] + 1000, "result": {"content": []}})


@on_call
async def string_id(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.json_response({"jsonrpc": "2.0", "id": str(m["id"]), "result": {"content": []}})


@on_call
async def no_jsonrpc(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.json_response({"id": m["id"], "result": {"content": []}})


@on_call
async def sse_no_response(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(r)
    await resp.write(sse_frame({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}}))
    await resp.write_eof()
    return resp


@on_call
async def sse_silent_close(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(r)
    await resp.write_eof()
    return resp


@on_call
async def sse_cut(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(r)
    await resp.write(b'event: message\r\ndata: {"jsonrpc": "2.0", "id": ')
    await resp.write_eof()
    return resp


async def sse_chatty(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """Everything a well-behaved SSE stream may carry before the answer: LF endings, a
    priming event, comments, a notification and a ping request that must be answered."""
    if "method" not in m and "id" in m:  # our client answering the ping
        s.counts["ping-answered"] += 1
        return web.Response(status=202)
    if m.get("method") != "tools/call":
        return None
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(r)
    await resp.write(b"id: prime-1\ndata: \n\n: keep-alive\n\n")
    await resp.write(
        sse_frame({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}, eol="\n")
    )
    await resp.write(sse_frame({"jsonrpc": "2.0", "id": "srv-1", "method": "ping"}, eol="\n"))
    frame = sse_frame(result(m, {"content": [{"type": "text", "text": "done"}]}), eol="\n")
    await resp.write(frame[:7])  # split mid-line across writes
    await asyncio.sleep(0.01)
    await resp.write(frame[7:])
    await resp.write_eof()
    return resp


async def missing_session(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """A stateful server that forgets to hand out its session id, then demands one."""
    if m.get("method") == "initialize":
        res = {"protocolVersion": LATEST, "capabilities": {}, "serverInfo": {"name": "faults", "version": "0"}}
        return web.json_response(result(m, res))
    if "Mcp-Session-Id" not in r.headers:
        body = {
            "jsonrpc": "2.0",
            "id": "server-error",
            "error": {"code": -32600, "message": "Bad Request: Missing session ID"},
        }
        return web.json_response(body, status=400)
    return None


async def expire_once(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """The session dies after initialize; a new one lives."""
    sid = r.headers.get("Mcp-Session-Id")
    if m.get("method") == "tools/list" and sid is not None and s.counts["expired"] == 0:
        s.counts["expired"] += 1
        s.sessions.discard(sid)
        return web.json_response(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}, status=404
        )
    return None


async def expire_always(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") == "tools/list" and r.headers.get("Mcp-Session-Id"):
        return web.json_response(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}, status=404
        )
    return None


async def bad_version(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") == "initialize":
        res = {"protocolVersion": "1900-01-01", "capabilities": {}, "serverInfo": {"name": "faults", "version": "0"}}
        return web.json_response(result(m, res), headers={"Mcp-Session-Id": "abc"})
    return None


async def bad_session_id(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") == "initialize":
        res = {"protocolVersion": LATEST, "capabilities": {}, "serverInfo": {"name": "faults", "version": "0"}}
        return web.json_response(result(m, res), headers={"Mcp-Session-Id": "has space"})
    return None


async def notify_200(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") == "notifications/initialized":
        return web.Response(status=200, text="ok")
    return None


async def paged(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") != "tools/list":
        return None
    cursor = m.get("params", {}).get("cursor")
    page = {None: 0, "p2": 1, "p3": 2}.get(cursor, 0)
    tools = [{"name": f"tool_{page}", "inputSchema": {"type": "object"}}]
    res: Json = {"tools": tools}
    if page < 2:
        res["nextCursor"] = f"p{page + 2}"
    return web.json_response(result(m, res))


async def cursor_loop(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") != "tools/list":
        return None
    return web.json_response(result(m, {"tools": [], "nextCursor": "again"}))


async def unauthorized(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if r.headers.get("Authorization") == "Bearer let-me-in-0123":
        return None
    www = 'Bearer error="invalid_token", resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"'
    return web.json_response(
        {"error": "invalid_token", "error_description": "Authentication required"},
        status=401,
        headers={"WWW-Authenticate": www},
    )


@on_call
async def echo_token(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    """An error page that repeats the caller's credentials back: they must not reach any output."""
    return web.Response(status=500, text=f"upstream rejected {r.headers.get('Authorization')}")


@on_call
async def huge(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(r)
    chunk = b" " * 65536
    with contextlib.suppress(ConnectionError):
        for _ in range(20 * 16):  # 20 MiB, chunked, never built in memory
            await resp.write(chunk)
    return resp


async def modern(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """A 2026-07-28 server that checks every header the client must mirror."""
    if "id" not in m:
        return web.Response(status=202)
    meta = m.get("params", {}).get("_meta", {})
    version = meta.get("io.modelcontextprotocol/protocolVersion")
    method = m.get("method")
    problems = []
    if r.headers.get("MCP-Protocol-Version") != version or version != "2026-07-28":
        problems.append("MCP-Protocol-Version")
    if r.headers.get("Mcp-Method") != method:
        problems.append("Mcp-Method")
    if "io.modelcontextprotocol/clientCapabilities" not in meta:
        problems.append("clientCapabilities")
    if method == "tools/call":
        params = m["params"]
        if r.headers.get("Mcp-Name") != params["name"]:
            problems.append("Mcp-Name")
        if params["name"] == "regional":
            args = params.get("arguments", {})
            if r.headers.get("Mcp-Param-Region") != args.get("region"):
                problems.append("Mcp-Param-Region")
            shard = args.get("opts", {}).get("shard")
            if r.headers.get("Mcp-Param-Shard") != (None if shard is None else str(shard)):
                problems.append("Mcp-Param-Shard")
    if problems:
        return web.json_response(error(m, -32020, "header mismatch: " + ", ".join(problems)), status=400)
    if method == "server/discover":
        res: Json = {
            "supportedVersions": ["2026-07-28"],
            "capabilities": {"tools": {}},
            "resultType": "complete",
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "faults-modern", "version": "1"}},
        }
    elif method == "tools/list":
        res = {"tools": [*TOOLS, BAD_HEADER_TOOL], "resultType": "complete"}
    elif method == "tools/call":
        res = {"content": [{"type": "text", "text": "ok"}], "resultType": "complete"}
    else:
        return web.json_response(error(m, -32601, "Method not found"), status=404)
    if r.match_info["fault"] == "modern-no-resulttype":
        res.pop("resultType")
    return web.json_response(result(m, res))


@on_call
async def redirect_302(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.Response(status=302, headers={"Location": "/elsewhere/mcp"})


@on_call
async def slow_error_body(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    resp = web.StreamResponse(status=500, headers={"Content-Type": "text/plain"})
    await resp.prepare(r)
    for _ in range(30):
        await resp.write(b"still failing... ")
        await s.stall(0.1)
    return resp


@on_call
async def null_id_error(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})


async def delete_404(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    return None  # DELETE is answered in _streamable


async def sse_resume(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """SSE polling (2025-11-25): the stream ends after a priming event; the answer waits for GET + Last-Event-ID."""
    if m.get("method") != "tools/call":
        return None
    s.parked[f"ev-{m['id']}"] = result(m, {"content": [{"type": "text", "text": "resumed"}]})
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(r)
    await resp.write(f"id: ev-{m['id']}\nretry: 20\ndata: \n\n".encode())
    await resp.write_eof()
    return resp


async def cancel_seen(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") == "notifications/cancelled":
        s.counts["cancelled"] += 1
        return web.Response(status=202)
    if m.get("method") == "tools/call":
        await s.stall(30)
    return None


async def modern_header_rejection(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    return web.json_response(error(m, -32020, "Mcp-Method header does not match"), status=400)


async def modern_deep(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") != "tools/list":
        return await modern(s, r, m)
    deep: Json = {"type": "string"}
    for _ in range(900):
        deep = {"type": "array", "items": deep}
    tools = [*TOOLS, {"name": "deep", "inputSchema": {"type": "object", "properties": {"x": deep}}}]
    return web.json_response(result(m, {"tools": tools, "resultType": "complete"}))


@on_call
async def slow_call(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    await s.stall(0.3)
    return web.json_response(result(m, {"content": [{"type": "text", "text": "slow"}]}))


async def expire_call(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """Every other session dies at its first tool call (a server rotating sessions); one VU meets
    a doomed session, re-initializes once, and gets a session that lives."""
    if m.get("method") == "initialize":
        s.counts["expire-call:inits"] += 1
        sid = uuid.uuid4().hex
        if s.counts["expire-call:inits"] % 2:
            s.survivors.add(sid)  # doomed
        res = {"protocolVersion": LATEST, "capabilities": {}, "serverInfo": {"name": "faults", "version": "0"}}
        return web.json_response(result(m, res), headers={"Mcp-Session-Id": sid})
    sid = r.headers.get("Mcp-Session-Id", "")
    if m.get("method") == "tools/call" and sid in s.survivors:
        s.survivors.discard(sid)
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
        return web.json_response(body, status=404)
    return None


async def expire_for_good(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """Each session dies at its first tool call, and the re-initialize that follows fails."""
    if m.get("method") == "tools/call" and r.headers.get("Mcp-Session-Id"):
        s.counts["expire-for-good:calls"] += 1
        s.counts["expire-for-good:refuse-next-init"] = 1
        return web.json_response(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}, status=404
        )
    if m.get("method") == "initialize" and s.counts["expire-for-good:refuse-next-init"]:
        s.counts["expire-for-good:refuse-next-init"] = 0
        return web.Response(status=500, text="cannot create session")
    return None


async def stall_init(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    if m.get("method") == "initialize":
        await s.stall(30)
    return None


@on_call
async def slower_call(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    await s.stall(5)
    return web.json_response(result(m, {"content": [{"type": "text", "text": "slower"}]}))


async def burst_503(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """Overload in bursts: every other tool call is refused with 503 and a Retry-After."""
    if m.get("method") != "tools/call":
        return None
    s.counts["burst-503"] += 1
    if s.counts["burst-503"] % 2:
        return web.Response(status=503, text="Service Unavailable", headers={"Retry-After": "1"})
    return None


@on_call
async def sse_nothing(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    """An SSE answer that starts and then never sends a single byte."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(r)
    await s.stall(30)
    return resp


@on_call
async def trickle(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    """A body sent a few bytes at a time, far slower than any timeout allows."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(r)
    with contextlib.suppress(ConnectionError):
        for byte in b'{"jsonrpc": "2.0", "id": ' + str(m["id"]).encode() + b', "result": {"content": []}}':
            await resp.write(bytes([byte]))
            await s.stall(0.1)
    return resp


@on_call
async def bad_gzip(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    """A proxy that says gzip and sends something else."""
    return web.Response(
        status=200,
        body=b"this is not gzip at all",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


@on_call
async def empty_200(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    return web.Response(status=200, body=b"", content_type="application/json")


@on_call
async def connection_close(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse:
    """Well-behaved, but closes every connection after its answer (no keep-alive)."""
    return web.json_response(result(m, {"content": [{"type": "text", "text": "ok"}]}), headers={"Connection": "close"})


# -- the standalone GET stream, one behaviour per route ----------------------------------------


async def _sse_open(r: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(r)
    return resp


async def _hold_open(s: FaultServer, r: web.Request, resp: web.StreamResponse, keepalive: bool = True) -> None:
    """Keep the stream until the client goes (or the server stops), with a keepalive comment each 0.1 s."""
    with contextlib.suppress(ConnectionError):
        while not s.stopping.is_set() and r.transport is not None and not r.transport.is_closing():
            if keepalive:
                await resp.write(b": keepalive\n\n")
            await s.stall(0.1)


async def stream_close(s: FaultServer, r: web.Request) -> web.StreamResponse:
    """A GET stream the server ends after a moment, with no retry field: the client meant to keep it."""
    resp = await _sse_open(r)
    with contextlib.suppress(ConnectionError):  # the client may have ended its session meanwhile
        await resp.write(b": hello\n\n")
        await s.stall(0.2)
        await resp.write_eof()
    return resp


async def stream_silent(s: FaultServer, r: web.Request) -> web.StreamResponse:
    """A GET stream that sends its headers and then nothing at all, not even a keepalive."""
    resp = await _sse_open(r)
    await _hold_open(s, r, resp, keepalive=False)
    return resp


async def stream_requests(s: FaultServer, r: web.Request) -> web.StreamResponse:
    """The server asks the client things on the GET stream: a ping (which a client must answer with an
    empty result) and roots/list (which mcpgate refuses with -32601), and sends a notification."""
    resp = await _sse_open(r)
    await resp.write(sse_frame({"jsonrpc": "2.0", "id": "srv-ping-1", "method": "ping"}, eol="\n"))
    await resp.write(sse_frame({"jsonrpc": "2.0", "id": "srv-roots-1", "method": "roots/list"}, eol="\n"))
    note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hi"}}
    await resp.write(sse_frame(note, eol="\n"))
    await _hold_open(s, r, resp)
    return resp


async def stream_retry(s: FaultServer, r: web.Request) -> web.StreamResponse:
    """SSE polling on the GET stream (2025-11-25): the first stream ends after an event id and a retry
    field; the client comes back with Last-Event-ID, and that stream stays."""
    resp = await _sse_open(r)
    if r.headers.get("Last-Event-ID") is None:
        await resp.write(b"id: g-1\nretry: 50\ndata: \n\n")
        await resp.write_eof()
        return resp
    await _hold_open(s, r, resp)
    return resp


async def stream_held(s: FaultServer, r: web.Request) -> web.StreamResponse:
    """A well-behaved GET stream: a keepalive comment every 0.1 s until the client goes."""
    resp = await _sse_open(r)
    await _hold_open(s, r, resp)
    return resp


async def stream_gzip(s: FaultServer, r: web.Request) -> web.StreamResponse:
    """A GET stream compressed with gzip, flushed event by event, as a compressing proxy sends it."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"})
    await resp.prepare(r)
    gz = zlib.compressobj(wbits=31)
    note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "zipped"}}
    for frame in (b": keepalive\n\n", sse_frame(note, eol="\n")):
        await resp.write(gz.compress(frame) + gz.flush(zlib.Z_SYNC_FLUSH))
        await s.stall(0.05)
    await _hold_open(s, r, resp, keepalive=False)
    return resp


async def stream_refused(s: FaultServer, r: web.Request) -> web.StreamResponse:
    """A GET stream refused for load (not 405: the server does offer one, just not now)."""
    return web.Response(status=503, text="Service Unavailable", headers={"Retry-After": "1"})


StreamHandler = Callable[[FaultServer, web.Request], Awaitable[web.StreamResponse]]
STREAMS: dict[str, StreamHandler] = {
    "stream-gzip": stream_gzip,
    "stream-refused": stream_refused,
    "stream-close": stream_close,
    "stream-silent": stream_silent,
    "stream-requests": stream_requests,
    "stream-retry": stream_retry,
    "stream-held": stream_held,
}


async def expire_second_call(s: FaultServer, r: web.Request, m: Json) -> web.StreamResponse | None:
    """Each session dies at its second tool call: a server that drops sessions under a long-lived client."""
    if m.get("method") == "tools/call" and s.calls_by_session[r.headers.get("Mcp-Session-Id", "")] == 2:
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
        return web.json_response(body, status=404)
    return None


FAULTS: dict[str, Handler] = {
    "expire-second-call": expire_second_call,
    "burst-503": burst_503,
    "sse-nothing": sse_nothing,
    "trickle": trickle,
    "bad-gzip": bad_gzip,
    "empty-200": empty_200,
    "connection-close": connection_close,
    "slow-call": slow_call,
    "slower-call": slower_call,
    "expire-call": expire_call,
    "expire-for-good": expire_for_good,
    "stall-init": stall_init,
    "redirect-302": redirect_302,
    "slow-error-body": slow_error_body,
    "null-id-error": null_id_error,
    "delete-404": delete_404,
    "sse-resume": sse_resume,
    "cancel-seen": cancel_seen,
    "modern-header-rejection": modern_header_rejection,
    "modern-deep": modern_deep,
    "tool-error": tool_error,
    "rpc-error": rpc_error,
    "http-500": http_500,
    "http-503-json": http_503_json,
    "http-429": http_429,
    "proxy-html-502": proxy_html_502,
    "html-200": html_200,
    "stall-headers": stall_headers,
    "stall-body": stall_body,
    "reset-mid-body": reset_mid_body,
    "bad-json": bad_json,
    "non-utf8": non_utf8,
    "wrong-id": wrong_id,
    "string-id": string_id,
    "no-jsonrpc": no_jsonrpc,
    "sse-no-response": sse_no_response,
    "sse-silent-close": sse_silent_close,
    "sse-cut": sse_cut,
    "sse-chatty": sse_chatty,
    "missing-session": missing_session,
    "expire-once": expire_once,
    "expire-always": expire_always,
    "bad-version": bad_version,
    "bad-session-id": bad_session_id,
    "notify-200": notify_200,
    "paged": paged,
    "cursor-loop": cursor_loop,
    "unauthorized": unauthorized,
    "echo-token": echo_token,
    "huge": huge,
    "modern": modern,
    "modern-no-resulttype": modern,
}
