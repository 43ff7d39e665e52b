"""An MCP server on the official SDK whose one tool has a known capacity, for the breakpoint tests.

``work`` holds one of ``--slots`` slots for ``--work`` seconds, so the server
completes at most slots / work calls per second; past that, calls queue for a
slot and their latency grows for as long as the load stays above it.

    python tests/capacityserver.py --port 8000 --slots 2 --work 0.2   # 10 calls/s
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations


def build(slots: int, work: float) -> MCPServer[Any]:
    app: MCPServer[Any] = MCPServer("mcpgate-capacity", version="1.0.0")
    limit = asyncio.Semaphore(slots)

    @app.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def work_once() -> str:
        """Take a slot, work a fixed time, give the slot back."""
        async with limit:
            await asyncio.sleep(work)
        return "done"

    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--slots", type=int, default=2, help="calls worked at once (default 2)")
    p.add_argument("--work", type=float, default=0.2, help="seconds each call works (default 0.2)")
    args = p.parse_args()
    build(args.slots, args.work).run(
        "streamable-http", host="127.0.0.1", port=args.port, streamable_http_path="/mcp", json_response=True
    )


if __name__ == "__main__":
    main()
