-- wrk's ceiling on the stub for mcpgate's flow: the same five requests an iteration sends
-- (initialize, notifications/initialized, tools/list, tools/call, DELETE), in turn on each
-- kept-alive connection, with a fixed session id. The server does the same work per request as
-- for mcpgate, while wrk parses nothing, checks nothing and keeps no session: the most a plain
-- HTTP loop gets from this target and core.
local requests = {}
local n = 0

function init(args)
  local base = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
  }
  local session = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["Mcp-Session-Id"] = "bench",
    ["MCP-Protocol-Version"] = "2025-11-25",
  }
  local path = wrk.path
  requests[1] = wrk.format("POST", path, base,
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    .. '"capabilities":{},"clientInfo":{"name":"wrk","version":"1"}}}')
  requests[2] = wrk.format("POST", path, session, '{"jsonrpc":"2.0","method":"notifications/initialized"}')
  requests[3] = wrk.format("POST", path, session, '{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}')
  requests[4] = wrk.format("POST", path, session,
    '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}')
  requests[5] = wrk.format("DELETE", path, session, nil)
end

function request()
  n = n % 5 + 1
  return requests[n]
end
