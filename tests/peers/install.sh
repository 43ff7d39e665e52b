#!/usr/bin/env bash
# Installs the test peers that do not live in the project's own environment:
#   .peers/mcp1  the official Python SDK's last 1.x release (no server/discover)
#   .peers/node  the official TypeScript "everything" server (Streamable HTTP and legacy SSE)
#   nginx + njs  (Debian) the benchmarks' stub MCP server, which the harness's smoke test starts
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
if [ ! -f "$everything" ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$peers/node"
    cp "$root/tests/peers/package.json" "$peers/node/package.json"
    (cd "$peers/node" && npm install --silent --no-audit --no-fund --no-package-lock)
  else
    echo "install.sh: npm not found; the TypeScript peer tests will be skipped" >&2
  fi
fi
stub_packages=()
for pkg in nginx-light libnginx-mod-http-js; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || stub_packages+=("$pkg")
done
if [ "${#stub_packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${stub_packages[@]}" >/dev/null
  else
    echo "install.sh: cannot install ${stub_packages[*]} (needs root and apt-get); the bench smoke test will be skipped" >&2
  fi
fi
echo "peers ready in $peers"
