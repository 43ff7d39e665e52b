"""The MCP client: one module per job (versions, outcomes, SSE, JSON-RPC, transports, sessions)."""
