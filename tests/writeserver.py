"""A server whose tools carry no readOnlyHint, as most frameworks' tools do by default.

    python tests/writeserver.py --port PORT [--instructions TEXT]

A run with no ``flow.tools`` calls none of them: the reports must say so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer


def command(port: int, *flags: str) -> list[str]:
    """How a test starts it (``tests.servers.serving(command)``)."""
    return [sys.executable, str(Path(__file__).resolve()), "--port", str(port), *flags]


def build(instructions: str | None) -> MCPServer:
    app: MCPServer = MCPServer("mcpgate-writes", version="0.1.0", instructions=instructions)

    @app.tool()
    def add_note(text: str) -> str:
        """Store a note (it writes: no readOnlyHint)."""
        return f"stored {len(text)} characters"

    @app.tool()
    def delete_note(id: str) -> str:
        """Delete a note."""
        return f"deleted {id}"

    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--instructions", default=None)
    args = p.parse_args()
    build(args.instructions).run("streamable-http", host="127.0.0.1", port=args.port, streamable_http_path="/mcp")


if __name__ == "__main__":
    main()
