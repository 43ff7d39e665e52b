#!/usr/bin/env bash
# Installs the real network parts the tests put between mcpgate and an MCP server, as a user's
# staging has them: squid and tinyproxy (forward proxies, CONNECT for https), HAProxy (a load
# balancer with cookie stickiness) and nginx (TLS termination, client certificates).
# Debian packages; none is started here: each test starts its own on 127.0.0.1 and stops it by PID.
# Needs root for apt-get (tests/peers/debian.sh). Idempotent: what is there is kept.
set -euo pipefail
"$(dirname "$0")/debian.sh" parts.sh squid tinyproxy haproxy nginx-light
