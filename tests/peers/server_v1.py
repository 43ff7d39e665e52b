"""The example server's tools on the last 1.x SDK (FastMCP), which predates server/discover.

Run by the tests from the separate environment tests/peers/install.sh makes, so
``--protocol-version auto`` meets a real server that must fall back to initialize.
"""

import argparse

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    p.add_argument("--stateless", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    app = FastMCP(
        "mcpgate-example-v1",
        host="127.0.0.1",
        port=args.port,
        stateless_http=args.stateless,
        json_response=args.json,
    )

    read_only = ToolAnnotations(readOnlyHint=True)

    @app.tool(annotations=read_only)
    def get_record(id: str) -> dict[str, str]:
        """Read one record by id."""
        return {"id": id, "title": f"Record {id}"}

    @app.tool(annotations=read_only)
    def search_records(query: str, limit: int = 10) -> list[str]:
        """Search records."""
        return [f"rec_{i}" for i in range(min(limit, 3))]

    app.run(transport=args.transport)


if __name__ == "__main__":
    main()
