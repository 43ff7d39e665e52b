"""mcpgate: a load-test gate for MCP servers."""

__version__ = "0.1.0"
