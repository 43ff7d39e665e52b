"""End to end: ``mcpgate probe`` against a raw server that speaks just enough MCP (initialize,
tools/list), its answers shaped as a conformance case: what the user sees is checked, the
outcome class and its reason."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from typing import Any

import orjson

from mcpgate.protocol.wire.connection import MAX_HEAD_BYTES
from mcpgate.support import exitcodes
from tests.conformance.rawserver import RawConn, serving

HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </x.js>; rel=preload\r\n\r\n"
VERSION = "2025-11-25"

# method -> (the answer's body) -> the segments that carry it
Shape = Callable[[str, bytes], list[bytes]]


def plain(method: str, body: bytes, *extra: bytes) -> list[bytes]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"".join(extra)
    return [head + b"Content-Length: %d\r\n\r\n" % len(body) + body]


def result(method: str) -> dict[str, object]:
    if method == "initialize":
        info = {"name": "raw", "version": "1"}
        return {"protocolVersion": VERSION, "capabilities": {"tools": {}}, "serverInfo": info}
    if method == "tools/list":
        return {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}
    return {}


def mcp(shape: Shape):  # type: ignore[no-untyped-def]
    async def case(conn: RawConn) -> None:
        while (req := await conn.request()) is not None:
            if req.method != "POST":
                conn.send(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                continue
            msg = orjson.loads(req.body)
            if "id" not in msg:
                conn.send(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                continue
            body = orjson.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result(msg["method"])})
            for part in shape(msg["method"], body):
                conn.send(part)
                await conn.pause(0.02)

    return case


def probe(url: str) -> tuple[int, dict[str, Any]]:
    cmd = [sys.executable, "-m", "mcpgate", "probe", url, "--protocol-version", VERSION, "--json"]
    done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report


def last_step(report: dict[str, Any]) -> tuple[str, str, str]:
    step = report["steps"][-1]
    return step["method"], step["outcome"], step["reason"]


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def lenient_and_interim(method: str, body: bytes) -> list[bytes]:
    """Early hints first, in their own segment; then a head aiohttp would also accept."""
    if method == "initialize":
        head = b"HTTP/1.1 200 OK\nContent-Type: application/json\nX-Folded: a\n b\nContent-Length: %d\n\n"
        return [HINTS, head % len(body) + body]
    coded = zlib.compress(raw_deflate(body))  # deflate (raw) then deflate (zlib-wrapped)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: deflate, deflate\r\n"
    return [b"HTTP/1.1 100 Continue\r\n\r\n", HINTS, head + b"Content-Length: %d\r\n\r\n" % len(coded), coded]


def test_probe_reads_interim_lenient_and_stacked_answers() -> None:
    with serving(mcp(lenient_and_interim)) as server:
        code, report = probe(server.url())
    assert code == exitcodes.OK, report
    assert report["ok"] is True
    assert report["tools"] == ["echo"]


def br_tools(method: str, body: bytes) -> list[bytes]:
    if method == "tools/list":
        return plain(method, b"\x1b\x10\x00 not readable", b"Content-Encoding: br\r\n")
    return plain(method, body)


def test_probe_names_a_coding_not_offered() -> None:
    with serving(mcp(br_tools)) as server:
        code, report = probe(server.url())
    assert code == exitcodes.CHECK_FAILED
    assert report["reason"] == (
        "tools/list: protocol_error: response body has Content-Encoding 'br', which was not offered (gzip, deflate)"
    )


def huge_head(method: str, body: bytes) -> list[bytes]:
    return plain(method, body, b"X-Huge: " + b"h" * MAX_HEAD_BYTES + b"\r\n")


def test_probe_names_the_head_cap() -> None:
    with serving(mcp(huge_head)) as server:
        code, report = probe(server.url())
    assert code == exitcodes.CHECK_FAILED
    assert last_step(report) == (
        "initialize",
        "protocol_error",
        f"response head exceeds the {MAX_HEAD_BYTES}-byte limit",
    )


def switching(method: str, body: bytes) -> list[bytes]:
    return [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", b"\x81\x00"]


def test_probe_refuses_a_switch_of_protocols() -> None:
    with serving(mcp(switching)) as server:
        code, report = probe(server.url())
    assert code == exitcodes.CHECK_FAILED
    assert last_step(report) == (
        "initialize",
        "protocol_error",
        "101 Switching Protocols, though no request asks to switch",
    )
