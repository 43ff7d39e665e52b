"""The MCP flow mcpgate runs, for Locust (FastHttpUser, its fastest client), with the same checks.

initialize -> notifications/initialized -> tools/list -> tools/call echo -> DELETE on the stub's
JSON responses, 2025-11-25 handshake; each answer must carry the request's id and a result.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from locust import FastHttpUser, task

VERSION = "2025-11-25"
BASE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
_ids = itertools.count(1)


class McpUser(FastHttpUser):
    def rpc(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        request_id = next(_ids)
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        with self.client.post("", data=body, headers=headers, name=method, catch_response=True) as response:
            try:
                answer = json.loads(response.content or b"null")
            except ValueError:
                answer = None
            if not isinstance(answer, dict) or answer.get("id") != request_id or "result" not in answer:
                response.failure(f"{method}: no result for id {request_id}")
            return response

    @task
    def flow(self) -> None:
        init = self.rpc(
            "initialize",
            {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "locust", "version": "1"}},
            BASE,
        )
        session = {**BASE, "Mcp-Session-Id": init.headers.get("Mcp-Session-Id", ""), "MCP-Protocol-Version": VERSION}
        note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        with self.client.post(
            "", data=note, headers=session, name="notifications/initialized", catch_response=True
        ) as r:
            if r.status_code != 202:
                r.failure(f"initialized: {r.status_code}")
        self.rpc("tools/list", {}, session)
        self.rpc("tools/call", {"name": "echo", "arguments": {"text": "hello"}}, session)
        with self.client.delete("", headers=session, name="DELETE", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"DELETE: {r.status_code}")
