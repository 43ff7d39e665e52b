"""Example MCP server on the official SDK: the seed guide's three tools, resources (a paged
list, a records:// template), prompts with a completable argument, logging, and progress.

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

from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    ListRoots,
    MCPServer,
    Resolve,
    Sample,
)
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageResult,
    EmptyResult,
    ListResourcesResult,
    ListRootsResult,
    PaginatedRequestParams,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    ToolAnnotations,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

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

    _add_resources(app, con)
    _add_prompts(app, con)
    _add_client_tools(app)
    return app


RESOURCE_PAGE = 2  # resources/list answers in pages this long, so clients must follow nextCursor


def _add_resources(app: MCPServer[Any], con: sqlite3.Connection) -> None:
    """Static resources listed in pages, the template records://{id} over the database, subscriptions
    (touch_record notifies each session subscribed to that record), logging/setLevel, and a tool
    that reports progress and says in the server's log when it was cancelled."""
    count = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    @app.resource("records://stats", mime_type="application/json")
    def stats() -> str:
        return f'{{"records": {count}}}'

    @app.resource("records://readme", mime_type="text/plain")
    def readme() -> str:
        return "Records rec_0 .. rec_999: read one as records://rec_42."

    @app.resource("records://schema", mime_type="text/plain")
    def schema() -> str:
        return "records(id TEXT PRIMARY KEY, title TEXT, body TEXT)"

    @app.resource("records://{id}", mime_type="application/json")
    def record(id: str) -> str:
        row = con.execute("SELECT id, title, body FROM records WHERE id = ?", (id,)).fetchone()
        if row is None:
            raise ValueError(f"no record {id}")
        return f'{{"id": "{row[0]}", "title": "{row[1]}", "body": "{row[2].strip()}"}}'

    async def list_resources(ctx: Any, params: PaginatedRequestParams) -> ListResourcesResult:
        every = await app.list_resources()
        start = int(params.cursor) if params.cursor and params.cursor.isdigit() else 0
        page = every[start : start + RESOURCE_PAGE]
        more = start + RESOURCE_PAGE < len(every)
        return ListResourcesResult(resources=page, next_cursor=str(start + RESOURCE_PAGE) if more else None)

    # uri -> the subscribed connections (each request has a session object of its own; the connection lasts)
    subscribers: dict[str, dict[int, Any]] = {}

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        subscribers.setdefault(str(params.uri), {})[id(ctx.session._connection)] = ctx.session
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        subscribers.get(str(params.uri), {}).pop(id(ctx.session._connection), None)
        return EmptyResult()

    async def set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
        return EmptyResult()

    lowlevel = app._lowlevel_server
    lowlevel.add_request_handler("resources/list", PaginatedRequestParams, list_resources)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)

    @app.tool()
    async def touch_record(id: str) -> str:
        """Mark a record changed: every session subscribed to records://<id> is notified."""
        uri = f"records://{id}"
        for key, session in list(subscribers.get(uri, {}).items()):
            try:
                await session.send_resource_updated(uri)
            except Exception:
                subscribers[uri].pop(key, None)  # that session is gone
        return uri

    @app.tool()  # not marked read-only, so a run's default mix keeps to the seed's tools
    async def count_slowly(ctx: Context, steps: int = 3, delay: float = 0.05) -> int:
        """Count to steps, one step per delay seconds, reporting progress and logging each step."""
        steps = max(1, min(steps, 100))
        try:
            for i in range(1, steps + 1):
                await asyncio.sleep(max(0.0, min(delay, 10.0)))
                await ctx.report_progress(i, steps, f"step {i} of {steps}")
                await ctx.info(f"count_slowly: step {i} of {steps}")
        except asyncio.CancelledError:
            print(f"count_slowly cancelled (request {ctx.request_id})", flush=True)
            raise
        return steps


def _add_prompts(app: MCPServer[Any], con: sqlite3.Connection) -> None:
    """A prompt over one record, whose id argument (and the records:// template's) completes from the database."""

    @app.prompt()
    def summarize_record(id: str) -> str:
        """Ask for a summary of one record."""
        row = con.execute("SELECT title, body FROM records WHERE id = ?", (id,)).fetchone()
        if row is None:
            raise ValueError(f"no record {id}")
        return f"Summarize {id} ({row[0]}) in one sentence: {row[1].strip()}"

    @app.prompt()
    def greeting() -> str:
        """A prompt without arguments."""
        return "Say hello to the records service."

    @app.completion()  # type: ignore[no-untyped-call, untyped-decorator]  # the SDK leaves it untyped
    async def complete(
        ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, _: CompletionContext | None
    ) -> Completion | None:
        if argument.name != "id":
            return None
        rows = con.execute(
            "SELECT id FROM records WHERE id LIKE ? ORDER BY id LIMIT 10", (argument.value.replace("%", "") + "%",)
        ).fetchall()
        total = con.execute("SELECT COUNT(*) FROM records WHERE id LIKE ?", (argument.value + "%",)).fetchone()[0]
        return Completion(values=[r[0] for r in rows], total=total, has_more=total > len(rows))


class Confirmation(BaseModel):
    """What confirm_action asks the user for."""

    name: str
    confirmed: bool


def _ask_llm(topic: str) -> Sample:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=f"Summarize {topic}"))
    return Sample([message], max_tokens=200, system_prompt="Answer in one sentence.")


def _ask_user(action_name: str) -> Elicit[Confirmation]:
    return Elicit(f"Go ahead with {action_name}?", Confirmation)


def _ask_roots() -> ListRoots:
    return ListRoots()


def _add_client_tools(app: MCPServer[Any]) -> None:
    """Tools that ask the client mid-call: sampling, elicitation, roots (a standalone request on
    2025-11-25 and earlier, an input_required round on 2026-07-28)."""

    @app.tool()
    def summarize_with_llm(
        topic: Annotated[str, Field(examples=["records"])],
        sampled: Annotated[CreateMessageResult, Resolve(_ask_llm)],
    ) -> dict[str, str]:
        """Ask the client's LLM to summarize a topic (sampling/createMessage)."""
        text = sampled.content.text if isinstance(sampled.content, TextContent) else ""
        return {"topic": topic, "model": sampled.model, "text": text, "stop_reason": str(sampled.stop_reason)}

    @app.tool()
    def confirm_action(
        action_name: Annotated[str, Field(examples=["deploy"])],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(_ask_user)],
    ) -> dict[str, Any]:
        """Ask the user to confirm an action (elicitation/create); says how they answered."""
        if isinstance(answer, AcceptedElicitation):
            return {"action": "accept", "name": answer.data.name, "confirmed": answer.data.confirmed}
        return {"action": answer.action, "for": action_name}

    @app.tool()
    def list_client_roots(roots: Annotated[ListRootsResult, Resolve(_ask_roots)]) -> list[dict[str, Any]]:
        """The roots the client offers (roots/list)."""
        return [{"uri": str(root.uri), "name": root.name} for root in roots.roots]


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
