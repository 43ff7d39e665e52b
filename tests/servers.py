"""Start real MCP servers on 127.0.0.1 for the tests, and stop them by PID.

Peers: the example server on the installed SDK (2.x) in every mode, the last
1.x SDK and the TypeScript "everything" server (both from tests/peers/install.sh).
A missing peer skips its tests, unless MCPGATE_REQUIRE_PEERS=1 (as in CI)
makes it a failure.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / ".peers"
EXAMPLE = ROOT / "examples" / "server" / "server.py"
MCP1_PYTHON = Path(os.environ.get("MCPGATE_PEER_MCP1_PYTHON", PEERS / "mcp1" / "bin" / "python"))
EVERYTHING = PEERS / "node" / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
LOOPBACK_PRELOAD = ROOT / "tests" / "peers" / "force-loopback.cjs"


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT
    proc: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return self.base + path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def missing_peer(what: str) -> None:
    if os.environ.get("MCPGATE_REQUIRE_PEERS") == "1":
        pytest.fail(f"test peer missing: {what} (run tests/peers/install.sh)")
    pytest.skip(f"test peer missing: {what} (run tests/peers/install.sh)")


def start(cmd: Sequence[str], port: int, *, env: dict[str, str] | None = None, ready_timeout: float = 30.0) -> Server:
    log = Path(tempfile.mkstemp(prefix="mcpgate-peer-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return Server(f"http://127.0.0.1:{port}", proc, log)
        time.sleep(0.05)
    stop(Server("", proc, log))
    raise RuntimeError(
        f"server on port {port} not ready in {ready_timeout}s: {log.read_text(errors='replace')[-2000:]}"
    )


def stop(server: Server) -> None:
    proc = server.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    with contextlib.suppress(OSError):
        server.log.unlink()


@contextlib.contextmanager
def running(cmd: Sequence[str], port: int, **kw: object) -> Iterator[Server]:
    server = start(cmd, port, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop(server)


@contextlib.contextmanager
def serving(command: Callable[[int], Sequence[str]]) -> Iterator[Server]:
    """A server of the test's own, on a free port: ``command(port)`` started, and stopped on the way out."""
    port = free_port()
    with running(command(port), port) as server:
        yield server


def example_cmd(port: int, *flags: str, search: str = "0.02", external: str = "0.05..0.1") -> list[str]:
    """The bundled example server, with its simulated work shortened for tests unless asked otherwise."""
    return [
        sys.executable,
        str(EXAMPLE),
        "--port",
        str(port),
        "--search-delay",
        search,
        "--external-delay",
        external,
        *flags,
    ]


def mcp1_cmd(port: int, *flags: str) -> list[str]:
    if not MCP1_PYTHON.exists():
        missing_peer(f"the 1.x SDK at {MCP1_PYTHON}")
    return [str(MCP1_PYTHON), str(ROOT / "tests" / "peers" / "server_v1.py"), "--port", str(port), *flags]


def everything_cmd(mode: str) -> list[str]:
    if not EVERYTHING.exists():
        missing_peer(f"the TypeScript everything server at {EVERYTHING}")
    return ["node", "-r", str(LOOPBACK_PRELOAD), str(EVERYTHING), mode]


def drift_cmd(port: int, *, slope_ms: float, base_ms: float = 2.0) -> list[str]:
    """tests/driftserver.py: ``lookup`` slows by ``slope_ms`` for every second it has served (0: steady)."""
    return [
        sys.executable,
        str(ROOT / "tests" / "driftserver.py"),
        "--port",
        str(port),
        "--base-ms",
        str(base_ms),
        "--slope-ms",
        str(slope_ms),
    ]
