"""An MCP server on the official SDK whose tool slows down the longer it serves: a leak, on purpose.

``lookup`` waits ``--base-ms`` plus ``--slope-ms`` for every second since its
first call, the way a server with a growing cache, a leaking pool or an
undrained queue gets slower under a load that does not change. ``ping`` stays
at ``--base-ms``. With ``--slope-ms 0`` both are steady: the control.

    python tests/driftserver.py --port 8000 --slope-ms 3
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations


def build(base_ms: float, slope_ms: float) -> MCPServer[Any]:
    app: MCPServer[Any] = MCPServer("mcpgate-drift", version="1.0.0")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    first_call: list[float] = []

    @app.tool(annotations=read_only)
    async def lookup(key: str) -> str:
        """Look a key up; slower the longer the server has served (with --slope-ms)."""
        now = time.monotonic()
        if not first_call:
            first_call.append(now)
        await asyncio.sleep((base_ms + slope_ms * (now - first_call[0])) / 1000)
        return key

    @app.tool(annotations=read_only)
    async def ping() -> str:
        """Always as fast."""
        await asyncio.sleep(base_ms / 1000)
        return "pong"

    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--base-ms", type=float, default=2.0, help="every call's own delay (default 2 ms)")
    p.add_argument("--slope-ms", type=float, default=0.0, help="lookup's extra delay per second since its first call")
    args = p.parse_args()
    app = build(args.base_ms, args.slope_ms)
    app.run(
        "streamable-http",
        host="127.0.0.1",
        port=args.port,
        streamable_http_path="/mcp",
        json_response=True,
        stateless_http=True,
    )


if __name__ == "__main__":
    main()
