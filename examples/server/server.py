"""Example MCP server on the official SDK with the seed guide's three tools.

Run it in any transport and mode the SDK offers, so mcpgate (and its tests) can
meet every shape a real deployment has:

    python examples/server/server.py --port 8000                      # stateful, SSE responses
    python examples/server/server.py --port 8000 --json               # stateful, JSON responses
    python examples/server/server.py --port 8000 --stateless [--json] # stateless
    python examples/server/server.py --port 8000 --transport sse      # legacy HTTP+SSE

Every Streamable HTTP mode also answers the stateless 2026-07-28 protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

RECORDS = 1000


def _make_db(path: Path) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, title TEXT, body TEXT)")
        con.executemany(
            "INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
            ((f"rec_{i}", f"Record {i}", f"test body {i} " + "lorem ipsum " * (i % 7)) for i in range(RECORDS)),
        )
    con.close()


def _parse_range(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition("..")
    low = float(lo)
    return low, float(hi) if hi else low


def _call_log(path: str | None) -> Callable[..., None]:
    """``--log-calls FILE``: each tool call as one JSON line (what was asked, what was answered)."""

    def log(tool: str, **fields: Any) -> None:
        if path is not None:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"tool": tool, **fields}) + "\n")

    return log


def build(args: argparse.Namespace) -> MCPServer[Any]:
    log = _call_log(getattr(args, "log_calls", None))
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="mcpgate-example-")) / "records.db"
    _make_db(db)
    con = sqlite3.connect(db, check_same_thread=False)
    search_delay = args.search_delay
    ext_lo, ext_hi = _parse_range(args.external_delay)

    app: MCPServer[Any] = MCPServer("mcpgate-example", version="1.0.0")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @app.tool(annotations=read_only)
    def get_record(
        # Mirrored into an Mcp-Param-Record-Id header on 2026-07-28, so a proxy could route by record.
        id: Annotated[str, Field(examples=["rec_42"], json_schema_extra={"x-mcp-header": "Record-Id"})],
    ) -> dict[str, str]:
        """Read one record from SQLite by id (e.g. rec_42)."""
        row = con.execute("SELECT id, title, body FROM records WHERE id = ?", (id,)).fetchone()
        log("get_record", id=id)
        if row is None:
            raise ValueError(f"no record {id}")
        return {"id": row[0], "title": row[1], "body": row[2]}

    @app.tool(annotations=read_only)
    async def search_records(query: Annotated[str, Field(examples=["test"])], limit: int = 10) -> list[str]:
        """Search record bodies; simulates a fixed amount of server-side work."""
        rows = con.execute(
            "SELECT id FROM records WHERE body LIKE ? ORDER BY id LIMIT ?", (f"%{query}%", max(0, min(limit, 100)))
        ).fetchall()
        if search_delay > 0:
            await asyncio.sleep(search_delay)
        log("search_records", query=query, result=[r[0] for r in rows])
        return [r[0] for r in rows]

    @app.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True))
    async def fetch_external_data(
        source: Annotated[str, Field(examples=["api"])], resource_id: Annotated[str, Field(examples=["r_7"])]
    ) -> dict[str, str]:
        """Fetch from a simulated slow upstream API (2-5 s by default)."""
        await asyncio.sleep(random.uniform(ext_lo, ext_hi))
        return {"source": source, "resource_id": resource_id, "status": "fetched"}

    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--stateless", action="store_true", help="stateless_http=True (no sessions)")
    p.add_argument("--json", action="store_true", help="json_response=True (no SSE-framed responses)")
    p.add_argument("--db", help="SQLite file to use (default: a fresh temporary one)")
    p.add_argument("--search-delay", type=float, default=0.2, help="seconds search_records works (default 0.2)")
    p.add_argument("--external-delay", default="2..5", help="fetch_external_data delay range in s (default 2..5)")
    p.add_argument("--log-calls", metavar="FILE", help="append each tool call to FILE as a JSON line")
    args = p.parse_args()
    app = build(args)
    if args.transport == "sse":
        app.run("sse", host=args.host, port=args.port)
    else:
        app.run(
            "streamable-http",
            host=args.host,
            port=args.port,
            streamable_http_path="/mcp",
            json_response=args.json,
            stateless_http=args.stateless,
        )


if __name__ == "__main__":
    main()
