#!/usr/bin/env bash
# Installs the test peers that do not live in the project's own environment:
#   .peers/mcp1  the official Python SDK's last 1.x release (no server/discover)
#   .peers/node  the official TypeScript "everything" server (Streamable HTTP and legacy SSE) and
#                oauth2-mock-server (a real OAuth authorization server)
#   tests/peers/parts.sh  the network parts (Debian): squid, tinyproxy, HAProxy, nginx
#   bench/setup.sh  the benchmarks' stub MCP server (nginx + njs) and their peers (wrk, k6, Locust),
#                   which the harness's smoke test starts
# Idempotent: an existing peer is kept.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
peers="$root/.peers"
mkdir -p "$peers"

if [ ! -x "$peers/mcp1/bin/python" ] || ! "$peers/mcp1/bin/python" -c 'import mcp.server.fastmcp' 2>/dev/null; then
  python3 -m venv "$peers/mcp1"
  "$peers/mcp1/bin/python" -m pip install --quiet --disable-pip-version-check 'mcp>=1.30,<2'
fi

everything="$peers/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
oauth="$peers/node/node_modules/oauth2-mock-server/package.json"
if [ ! -f "$everything" ] || [ ! -f "$oauth" ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$peers/node"
    cp "$root/tests/peers/package.json" "$peers/node/package.json"
    (cd "$peers/node" && npm install --silent --no-audit --no-fund --no-package-lock)
  else
    echo "install.sh: npm not found; the TypeScript peer tests will be skipped" >&2
  fi
fi
"$root/tests/peers/parts.sh"
# The benchmarks' stub (nginx + njs) and peers (wrk, k6, Locust): their harness's smoke test runs them.
if ! "$root/bench/setup.sh"; then
  echo "install.sh: bench/setup.sh failed (it needs root and apt-get); the bench smoke tests will be skipped" >&2
fi
echo "peers ready in $peers"
