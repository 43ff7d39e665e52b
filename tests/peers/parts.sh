#!/usr/bin/env bash
# Installs the real network parts the tests put between mcpgate and an MCP server, as a user's
# staging has them: squid and tinyproxy (forward proxies, CONNECT for https), HAProxy (a load
# balancer with cookie stickiness) and nginx (TLS termination, client certificates).
# Debian packages; none is started here: each test starts its own on 127.0.0.1 and stops it by PID.
# Needs root for apt-get. Idempotent: what is there is kept.
set -euo pipefail
debian_packages=(squid tinyproxy haproxy nginx-light)
missing=()
for pkg in "${debian_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "parts.sh: need root to install ${missing[*]} (apt-get); the tests that need them will fail" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: no extra services; the packages' own daemons are never started here
  # (no service manager runs), and the tests start their own with their own configs.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
