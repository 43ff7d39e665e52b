-- wrk's ceiling on the stub: one tools/call POST, again and again, on kept-alive connections.
-- No MCP flow and no checks: the most a plain HTTP loop gets from this target and core.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = "bench"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
