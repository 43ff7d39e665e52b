from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests import house, servers
from tests.faultserver import FaultServer

# mode -> (command for a port, path of the MCP endpoint, extra environment)
PEER_MODES: dict[str, tuple[Callable[[int], list[str]], str, bool]] = {
    "stateful-sse": (servers.example_cmd, "/mcp", False),
    "stateful-json": (lambda p: servers.example_cmd(p, "--json"), "/mcp", False),
    "stateless-sse": (lambda p: servers.example_cmd(p, "--stateless"), "/mcp", False),
    "stateless-json": (lambda p: servers.example_cmd(p, "--stateless", "--json"), "/mcp", False),
    "legacy-sse": (lambda p: servers.example_cmd(p, "--transport", "sse"), "/sse", False),
    # The seed's timings, so per-tool numbers can be checked: search_records works 200 ms.
    "timed": (lambda p: servers.example_cmd(p, search="0.2", external="0.3..0.4"), "/mcp", False),
    "v1-stateful": (servers.mcp1_cmd, "/mcp", False),
    "v1-stateless-json": (lambda p: servers.mcp1_cmd(p, "--stateless", "--json"), "/mcp", False),
    "v1-sse": (lambda p: servers.mcp1_cmd(p, "--transport", "sse"), "/sse", False),
    "ts-streamable": (lambda p: servers.everything_cmd("streamableHttp"), "/mcp", True),
    "ts-sse": (lambda p: servers.everything_cmd("sse"), "/sse", True),
}

PeerFactory = Callable[[str], str]
Spawn = Callable[..., Awaitable[asyncio.subprocess.Process]]


@pytest.fixture(scope="session")
def peer() -> Iterator[PeerFactory]:
    """``peer(mode)`` -> the MCP endpoint URL of a real server in that mode, started once per test run."""
    started: dict[str, servers.Server] = {}
    paths: dict[str, str] = {}

    def get(mode: str) -> str:
        if mode not in started:
            command, path, wants_port_env = PEER_MODES[mode]
            port = servers.free_port()
            env = {"PORT": str(port)} if wants_port_env else None
            started[mode] = servers.start(command(port), port, env=env)
            paths[mode] = path
        return started[mode].url(paths[mode])

    yield get
    for server in started.values():
        servers.stop(server)


@pytest.fixture
async def spawn() -> AsyncIterator[Spawn]:
    """``await spawn(*args, **kw)`` -> ``python -m mcpgate ARGS``, output piped, ``kw`` to the process.

    Whatever a failing test left running is killed at its end: no load outlives its test."""
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str, **kw: Any) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mcpgate", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, **kw
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@pytest.fixture(scope="session")
async def faults() -> AsyncIterator[FaultServer]:
    """Our own misbehaving server, one fault per route, in the test event loop."""
    server = FaultServer()
    await server.start()
    yield server
    await server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The longest functions and modules, so a run shows how close the house is to its limits."""
    for line in house.summary():
        terminalreporter.write_line(line)
