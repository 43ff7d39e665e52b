"""The wire client's own cost: N keep-alive POSTs through ``Pool`` against a minimal local server.

The server (a child process, so it does not share the client's interpreter) answers every
request with the same canned bytes as soon as the request is whole; what is measured is
what the client spends per request: writing it, parsing the answer, decoding and reading
the body. Two figures: requests per second, and the client process's CPU time per request
(user + system, the server excluded), which moves far less than the rate on a shared machine.
One line of JSON per invocation:

    .venv/bin/python -m bench.wire_micro --requests 20000 --body cl
    .venv/bin/python -m bench.wire_micro --runs 5 --body gzip     # best and median of 5
    .venv/bin/python -m bench.wire_micro --feed --requests 200000   # the parse path alone

``--feed`` leaves out the sockets and the loop's I/O: the canned answer is handed straight to
a connection's ``data_received`` and the body read back, so what remains is the parsing,
decoding and reading this client adds per response, without the kernel's noise.

``--body``: ``cl`` (Content-Length), ``chunked``, or ``gzip`` (Content-Length, gzip-encoded).
Traffic goes only to 127.0.0.1; the server is stopped by its PID when the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from mcpgate.protocol.http import read_body
from mcpgate.protocol.wire.connection import Connection, Response
from mcpgate.protocol.wire.pool import Pool, header_block
from mcpgate.support.eventloop import run

BODY = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}],"isError":false}}'
REQUEST = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: 0123456789abcdef\r\n"


def canned(kind: str) -> bytes:
    """The whole answer to every request, by body kind."""
    if kind == "chunked":
        return HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)
    body = gzip.compress(BODY) if kind == "gzip" else BODY
    encoding = b"Content-Encoding: gzip\r\n" if kind == "gzip" else b""
    return HEAD + encoding + b"Content-Length: %d\r\n\r\n" % len(body) + body


class Answer(asyncio.Protocol):
    """Answers each whole request (head plus Content-Length bytes) with the canned bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buf) < end + 4 + length:
                break
            self.buf = self.buf[end + 4 + length :]
            out.append(self.answer)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(port: int, kind: str, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    answer = canned(kind)
    server = await loop.create_server(lambda: Answer(answer), "127.0.0.1", port)
    async with server:
        await asyncio.sleep(seconds)  # bounded: never outlives a forgotten client


async def drive(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """Requests per second, and CPU microseconds per request, for ``requests`` POSTs by
    ``concurrency`` keep-alive workers."""
    block = header_block({"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    left = requests

    async with Pool() as pool:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with pool.post(url, data=REQUEST, headers=block) as resp:
                    body = await read_body(resp, 1 << 20)
                    if resp.status != 200 or body != BODY:
                        raise RuntimeError(f"unexpected answer: {resp.status} {body[:80]!r}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm: connections open
        left = requests
        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        return requests / wall, cpu / requests * 1e6


class NoPool:
    """Where a fed connection's responses would go back: nowhere, nothing is released."""

    def release(self, conn: Connection, *, reusable: bool) -> None:
        pass


async def feed(kind: str, requests: int) -> tuple[float, float]:
    """Responses per second, and CPU microseconds per response, through the parse path alone."""
    answer, keeper, loop = canned(kind), NoPool(), asyncio.get_running_loop()
    key: Any = ("http", "127.0.0.1", 80)  # never dialled: the key is not read
    conn = Connection(key)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(requests):
        resp = Response(keeper, conn)
        conn.begin(resp, loop, None)
        conn.data_received(answer)
        if await resp.read() != BODY:
            raise RuntimeError("the fed answer did not read back")
        conn.response = None
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return requests / wall, cpu / requests * 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError("the micro server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--body", choices=("cl", "chunked", "gzip"), default="cl")
    ap.add_argument("--feed", action="store_true", help="the parse path alone, no sockets")
    ap.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        run(serve(args.serve, args.body, 600.0))
        return
    if args.feed:
        report(
            {"mode": "feed", "body": args.body, "requests": args.requests},
            [run(feed(args.body, args.requests)) for _ in range(args.runs)],
        )
        return
    port = free_port()
    cmd = [sys.executable, "-m", "bench.wire_micro", "--serve", str(port), "--body", args.body]
    server = subprocess.Popen(cmd, env=os.environ.copy())
    try:
        wait_listening(port)
        url = f"http://127.0.0.1:{port}/mcp"
        runs = [run(drive(url, args.requests, args.concurrency)) for _ in range(args.runs)]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    report({"mode": "pool", "body": args.body, "requests": args.requests, "concurrency": args.concurrency}, runs)


def report(what: dict[str, object], runs: list[tuple[float, float]]) -> None:
    rates, cpus = [r for r, _ in runs], [c for _, c in runs]
    out = what | {"best_rps": round(max(rates)), "median_rps": round(statistics.median(rates)), "runs": len(runs)}
    out |= {"best_cpu_us": round(min(cpus), 3), "median_cpu_us": round(statistics.median(cpus), 3)}
    out["client"] = sys.modules["mcpgate"].__file__ or ""
    print(json.dumps(out))


if __name__ == "__main__":
    main()
