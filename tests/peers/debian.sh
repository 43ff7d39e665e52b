#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet, and nothing else.
# Used by tests/peers/parts.sh and bench/setup.sh, so both install the same way:
# --no-install-recommends (no extra services), quiet, noninteractive. Needs root for apt-get;
# without it, names what is missing and fails. Idempotent: what is there is kept.
#   usage: debian.sh WHO PACKAGE...   (WHO names the caller in messages)
set -euo pipefail
who=$1
shift
missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "$who: need root to install ${missing[*]} (apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The packages' own daemons are never started here (no service manager runs, and the tests and
# benchmarks start their own on 127.0.0.1 with their own configs).
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
