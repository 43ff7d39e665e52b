#!/usr/bin/env bash
# Build mcpgate's container image and run its entrypoint inside it, on a machine without a Docker
# engine (recipe: buildah + debootstrap, as in the shared container-build reference).
#
# Usage (as root, from anywhere; `make install` first, or this script runs it):
#   tests/container/build-and-test.sh
#
# What it does, each step timed:
#   1. installs podman, buildah and debootstrap with apt-get if any is missing;
#   2. makes the base image localhost/bookworm-python:local (debootstrap: Debian bookworm with
#      python3, python3-venv, ca-certificates), unless it exists already;
#   3. builds the Dockerfile on that base with buildah (vfs storage, chroot isolation, the host's
#      CA bundle mounted for pip), tagged localhost/mcpgate:test, replacing the previous build;
#   4. checks the image's configuration: exec-form ENTRYPOINT, no USER, OCI labels, PATH;
#   5. reads the ENTRYPOINT back with `buildah inspect` and runs exactly that command inside the
#      image (buildah run does not apply it), the way a runner would:
#        a. `mcpgate --version` and `command -v mcpgate` (mcpgate on PATH, no compiler in the image)
#        b. `sh -c 'echo handed-over'` (the hand-over GitLab and Jenkins rely on)
#        c. `mcpgate probe` and `mcpgate run --profile smoke --duration 3s --out ...` against the
#           example server, started on 127.0.0.1 with the project's .venv (buildah run shares the
#           host's network); two shards (`run --shard I/2`) and their `mcpgate merge`
#        d. the action mode, twice (a pass, and a failed threshold: exit 99 and an ::error line):
#           INPUT_* variables as the runner sets them (every input action.yml declares, defaults
#           merged, hyphens kept, a bearer token that must appear nowhere), GITHUB_ACTIONS=true,
#           and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files under a mounted /github/file_commands;
#           skipped when action.yml or entrypoint.py does not exist yet
#   6. prints the image size.
# Everything it starts (the working container, the server) is removed on exit, by id; the base
# and the built image stay, so the next run is quick. Exit 0 when every check passed.
#
# Environment:
#   IMAGE=localhost/mcpgate:test          the tag to build
#   BASE_IMAGE=localhost/bookworm-python:local
#   REBUILD_BASE=1                        debootstrap the base again even if it exists
#   BUILD_FROM_SOURCE=hdrhistogram        build these packages from source (the arm64 path)
#   DEBIAN_MIRROR=http://deb.debian.org/debian
#
# Until entrypoint.py exists, the image is built with a stand-in (mcpgate verbs, else exec) so
# the rest is still tested, and the action mode is skipped; both are said loudly.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

IMAGE=${IMAGE:-localhost/mcpgate:test}
BASE_IMAGE=${BASE_IMAGE:-localhost/bookworm-python:local}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BUILD_FROM_SOURCE=${BUILD_FROM_SOURCE:-}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
VENV_PY="$ROOT/.venv/bin/python"
BUILDAH=(buildah --storage-driver vfs)
RUN_OPTS=(--isolation chroot)

TMP=""
CTR=""
SERVER_PID=""
FAILED=0

say() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
fail() {
    printf '   FAIL: %s\n' "$*" >&2
    FAILED=1
}
die() {
    printf 'build-and-test: %s\n' "$*" >&2
    exit 1
}
# check WHAT COMMAND...: "ok: WHAT" when COMMAND succeeds, else "FAIL: WHAT" (the script then fails).
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
step_start() { STEP_T0=$SECONDS; }
step_done() { printf '   (%s: %ds)\n' "$1" $((SECONDS - STEP_T0)); }

# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$CTR" ]; then
        "${BUILDAH[@]}" rm "$CTR" >/dev/null 2>&1 || true
    fi
    if [ -n "$TMP" ]; then
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "run as root (buildah with vfs storage and chroot isolation, debootstrap)"
TMP=$(mktemp -d /tmp/mcpgate-container.XXXXXX)
T0=$SECONDS

# ---------------------------------------------------------------------------------------------
say "1. tools"
step_start
missing=()
for tool in buildah podman debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "   installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah debootstrap >/dev/null
fi
buildah --version
if [ ! -x "$VENV_PY" ] || ! "$VENV_PY" -c 'import mcp' 2>/dev/null; then
    echo "   the project's .venv (with the mcp SDK for the example server) is missing: make install"
    make install
fi
step_done tools

# ---------------------------------------------------------------------------------------------
say "2. base image $BASE_IMAGE"
step_start
if [ "${REBUILD_BASE:-0}" != 1 ] && "${BUILDAH[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "   exists: reused (REBUILD_BASE=1 makes it again)"
else
    rootfs="$TMP/rootfs"
    echo "   debootstrap bookworm from $DEBIAN_MIRROR"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$DEBIAN_MIRROR" >"$TMP/debootstrap.log" 2>&1 ||
        { tail -20 "$TMP/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    # The image built on the old base goes first, so the old base is not left behind under it.
    "${BUILDAH[@]}" rmi "$IMAGE" >/dev/null 2>&1 || true
    "${BUILDAH[@]}" rmi "$BASE_IMAGE" >/dev/null 2>&1 || true
    tar -C "$rootfs" -c . | podman --storage-driver vfs import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
fi
step_done base

# ---------------------------------------------------------------------------------------------
say "3. build $IMAGE"
step_start
VERSION=$("$VENV_PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
CONTEXT="$ROOT"
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "VERSION=$VERSION")
if [ -n "$BUILD_FROM_SOURCE" ]; then
    build_args+=(--build-arg "BUILD_FROM_SOURCE=$BUILD_FROM_SOURCE")
fi
# No layer cache: with vfs storage every cached layer is a full copy of the file system (GBs after
# a few runs) and buys little time here; the image this build replaces is removed by its id.
old_id=$("${BUILDAH[@]}" images -q --no-trunc "$IMAGE" 2>/dev/null || true)
"${BUILDAH[@]}" bud "${RUN_OPTS[@]}" \
    -v "$CA_BUNDLE:$CA_BUNDLE:ro" \
    "${build_args[@]}" -t "$IMAGE" -f "$CONTEXT/Dockerfile" "$CONTEXT" >"$TMP/build.log" 2>&1 ||
    { tail -40 "$TMP/build.log" >&2; die "the build failed (log above)"; }
{ grep -E '^\[|^STEP' "$TMP/build.log" || true; } | sed 's/^/   /' | cut -c1-120
new_id=$("${BUILDAH[@]}" images -q --no-trunc "$IMAGE")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    "${BUILDAH[@]}" rmi "$old_id" >/dev/null 2>&1 || true
fi
if grep -q '^Setting up gcc' "$TMP/build.log"; then
    echo "   (a dependency was compiled from source in the build stage)"
fi
step_done build

# ---------------------------------------------------------------------------------------------
say "4. image configuration"
"${BUILDAH[@]}" inspect --type image "$IMAGE" >"$TMP/inspect.json"
mapfile -t EP < <("$VENV_PY" -c 'import json, sys
for arg in json.load(open(sys.argv[1]))["OCIv1"]["config"].get("Entrypoint") or []:
    print(arg)' "$TMP/inspect.json")
[ ${#EP[@]} -gt 0 ] || die "the image has no ENTRYPOINT"
echo "   ENTRYPOINT ${EP[*]}"
"$VENV_PY" - "$TMP/inspect.json" "$VERSION" <<'EOF' || FAILED=1
import json
import sys

config = json.load(open(sys.argv[1]))["OCIv1"]["config"]
failed = False


def check(good: bool, what: str) -> None:
    global failed
    print(f"   {'ok' if good else 'FAIL'}: {what}")
    failed |= not good


entrypoint = config.get("Entrypoint") or []
check(entrypoint[:1] == ["/opt/mcpgate/bin/python"], f"exec-form ENTRYPOINT {entrypoint}")
check(not config.get("User"), f"no USER (docker actions run as root): {config.get('User')!r}")
labels = config.get("Labels") or {}
for key in ("title", "description", "source", "licenses", "version"):
    value = labels.get(f"org.opencontainers.image.{key}", "")
    check(bool(value), f"label org.opencontainers.image.{key} = {value[:60]!r}")
check(labels.get("org.opencontainers.image.version") == sys.argv[2], f"version label is pyproject's {sys.argv[2]}")
env = dict(e.split("=", 1) for e in config.get("Env") or [])
check(env.get("PATH", "").startswith("/opt/mcpgate/bin:"), f"PATH={env.get('PATH')}")
check(env.get("PYTHONUNBUFFERED") == "1", "PYTHONUNBUFFERED=1")
sys.exit(1 if failed else 0)
EOF

CTR=$("${BUILDAH[@]}" from "$IMAGE")
OUT="$TMP/out"
mkdir -p "$OUT"
chmod 0777 "$OUT"

# Run the image's own ENTRYPOINT with arguments, as `docker run IMAGE ARGS...` would.
in_image() {
    "${BUILDAH[@]}" run "${RUN_OPTS[@]}" -v "$OUT:/out" "${ENVS[@]}" "$CTR" -- "${EP[@]}" "$@"
}
ENVS=()

# ---------------------------------------------------------------------------------------------
say "5a. mcpgate on PATH"
step_start
version_line=$(in_image mcpgate --version 2>&1) || true
check "mcpgate --version: $version_line" test "$version_line" = "mcpgate $VERSION"
where=$(in_image sh -c 'command -v mcpgate') || true
check "mcpgate on PATH: $where" test "$where" = /opt/mcpgate/bin/mcpgate
check "no compiler and no pip in the final image" \
    in_image sh -c '! command -v gcc && ! command -v cc && ! command -v pip >/dev/null'
rc=0
said=$(in_image validate /usr/share/mcpgate/examples/mcpgate.yaml 2>&1) || rc=$?
check "the bundled example config validates: ${said:0:90}" test "$rc" = 0
step_done 5a

say "5b. hand-over to another command"
step_start
said=$(in_image sh -c 'echo handed-over' 2>&1) || true
check "sh -c 'echo handed-over' -> $said" test "$said" = handed-over
said=$(printf 'through cat\n' | "${BUILDAH[@]}" run "${RUN_OPTS[@]}" "$CTR" -- "${EP[@]}" cat 2>&1) || true
check "cat reads stdin (Jenkins' way) -> $said" test "$said" = "through cat"
step_done 5b

# ---------------------------------------------------------------------------------------------
say "5c. probe and a short run against the example server"
step_start
PORT=$("$VENV_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VENV_PY" examples/server/server.py --host 127.0.0.1 --port "$PORT" \
    --search-delay 0.01 --external-delay 0.05..0.1 >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
up=0
for _ in $(seq 1 100); do
    if "$VENV_PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$PORT" 2>/dev/null; then
        up=1
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
[ "$up" = 1 ] || { cat "$TMP/server.log" >&2; die "the example server did not start"; }
URL="http://127.0.0.1:$PORT/mcp"
echo "   example server pid $SERVER_PID at $URL"

if in_image probe "$URL" >"$TMP/probe.txt" 2>&1; then
    ok "mcpgate probe: $(tail -1 "$TMP/probe.txt")"
else
    sed 's/^/   | /' "$TMP/probe.txt"
    fail "mcpgate probe failed"
fi
rc=0
in_image run --url "$URL" --profile smoke --duration 3s --no-progress --out /out/results.json \
    >"$TMP/run.txt" 2>&1 || rc=$?
sed -n '1,12p' "$TMP/run.txt" | sed 's/^/   | /'
check "mcpgate run exited $rc" test "$rc" = 0
if [ -s "$OUT/results.json" ] &&
    "$VENV_PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r["run"]["exit_code"] != 0)' "$OUT/results.json"; then
    ok "results.json written through the mount, exit_code 0"
else
    fail "results.json missing or not a passed run"
fi
# Two shards of one run, side by side from one start time, then `mcpgate merge` with a glob it
# expands itself.
START_AT=$(($(date +%s) + 10))
shard_pids=()
for i in 0 1; do
    in_image run --url "$URL" --profile smoke --vus 2 --duration 2s --no-progress --shard "$i/2" \
        --start-at "$START_AT" --out "/out/shards/shard-$i.json" >"$TMP/shard-$i.txt" 2>&1 &
    shard_pids+=("$!")
done
for pid in "${shard_pids[@]}"; do
    wait "$pid" || true
done
rc=0
in_image merge '/out/shards/shard-*.json' --out /out/merged.json >"$TMP/merge.txt" 2>&1 || rc=$?
sed -n '1,8p' "$TMP/merge.txt" | sed 's/^/   | /'
check "mcpgate merge of two shards exited $rc" test "$rc" = 0
check "merge: the summary holds both shards" grep -q 'shards     0, 1 of 2 merged' "$TMP/merge.txt"
rc=0
in_image drift /out/merged.json --format json >"$TMP/drift.txt" 2>&1 || rc=$?
check "drift: the container hands every CLI verb over (exit $rc)" grep -q '"ok"' "$TMP/drift.txt"
step_done 5c

# ---------------------------------------------------------------------------------------------
say "5d. the action mode (as the runner starts a docker action)"
step_start
SECRET=mcpgate-test-secret-7f3a9c51
# run_action NAME EXPECTED_EXIT INPUT=VALUE...: run the image with no arguments, as the runner
# does: every input action.yml declares arrives as INPUT_<NAME> (upper case, spaces to
# underscores, hyphens kept: INPUT_BEARER-TOKEN), with its default unless given; the workspace
# and file_commands directories are mounted where the runner mounts them. Then check the exit
# code, GITHUB_OUTPUT (passed, exit-code), the step summary, the files written, and the secret.
run_action() {
    local name=$1 expected=$2 dir="$OUT/action-$1" rc=0
    shift 2
    mkdir -p "$dir/workspace" "$dir/file_commands" "$dir/home"
    : >"$dir/file_commands/output"
    : >"$dir/file_commands/summary"
    chmod -R 0777 "$dir"
    local envs=()
    mapfile -t envs < <("$VENV_PY" - "$ROOT/action.yml" "$@" <<'EOF'
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as f:
    inputs = yaml.safe_load(f).get("inputs") or {}
given = dict(arg.split("=", 1) for arg in sys.argv[2:])
for missing in sorted(set(given) - set(inputs)):
    sys.exit(f"action.yml declares no input {missing!r}")
for name, spec in inputs.items():
    value = given.get(name, str((spec or {}).get("default", "")))
    print("--env")
    print(f"INPUT_{name.replace(' ', '_').upper()}={value}")
EOF
    ) || { fail "$name: could not read action.yml"; return; }
    envs+=(--env GITHUB_ACTIONS=true --env CI=true --env HOME=/github/home
        --env GITHUB_WORKSPACE=/github/workspace
        --env GITHUB_OUTPUT=/github/file_commands/output
        --env GITHUB_STEP_SUMMARY=/github/file_commands/summary
        -v "$dir/workspace:/github/workspace" -v "$dir/file_commands:/github/file_commands"
        -v "$dir/home:/github/home" --workingdir /github/workspace)
    "${BUILDAH[@]}" run "${RUN_OPTS[@]}" "${envs[@]}" "$CTR" -- "${EP[@]}" >"$dir/stdout.txt" 2>&1 || rc=$?
    grep -E '^::(error|warning|add-mask|group)' "$dir/stdout.txt" | sed "s/$SECRET/<the secret>/" |
        sed 's/^/   | /' | cut -c1-160 || true
    check "$name: the action exited $rc" test "$rc" = "$expected"
    # GITHUB_OUTPUT holds name=value lines and name<<DELIMITER ... DELIMITER blocks.
    "$VENV_PY" - "$dir/file_commands/output" "$expected" <<'EOF' || fail "$name: GITHUB_OUTPUT lacks passed / exit-code=$expected"
import sys

lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
outputs, i = {}, 0
while i < len(lines):
    line = lines[i]
    if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
        name, delimiter = line.split("<<", 1)
        end = lines.index(delimiter, i + 1)
        outputs[name], i = "\n".join(lines[i + 1 : end]), end + 1
        continue
    if "=" in line:
        name, value = line.split("=", 1)
        outputs[name] = value
    i += 1
print("   ok: GITHUB_OUTPUT: " + ", ".join(f"{k}={v}" for k, v in outputs.items())[:300])
passed = "true" if sys.argv[2] == "0" else "false"
sys.exit(0 if outputs.get("passed") == passed and outputs.get("exit-code") == sys.argv[2] else 1)
EOF
    check "$name: GITHUB_STEP_SUMMARY $(wc -c <"$dir/file_commands/summary") bytes: $(head -1 "$dir/file_commands/summary" | cut -c1-70)" \
        test -s "$dir/file_commands/summary"
    local written
    written=$(cd "$dir/workspace" && find . -type f | sort | tr '\n' ' ')
    check "$name: written under the workspace: $written" test -n "$written"
    check "$name: the secret is masked first (::add-mask::)" grep -q "^::add-mask::$SECRET\$" "$dir/stdout.txt"
    check "$name: the secret is in no output, summary or file" secret_absent "$dir"
}
# secret_absent DIR: the secret appears only in the ::add-mask:: line, in no other output or file.
# shellcheck disable=SC2329  # invoked through check
secret_absent() {
    ! grep -v '^::add-mask::' "$1/stdout.txt" | grep -qF "$SECRET" &&
        ! grep -rqF "$SECRET" "$1/workspace" "$1/file_commands"
}

if [ ! -f "$ROOT/action.yml" ]; then
    echo "   SKIPPED: action.yml does not exist yet"
else
    run_action pass 0 url="$URL" profile=smoke duration=3s bearer-token="$SECRET"
    run_action fail 99 url="$URL" profile=smoke duration=3s bearer-token="$SECRET" \
        thresholds="mcp_tool_duration: p(95)<0.001"
    check "fail: an ::error line for the failed threshold" grep -q '^::error .*mcp_tool_duration' "$OUT/action-fail/stdout.txt"
fi
step_done 5d

# ---------------------------------------------------------------------------------------------
say "6. image size"
"${BUILDAH[@]}" images "$IMAGE"
"${BUILDAH[@]}" images "$BASE_IMAGE" | tail -n +2

printf '\nbuild-and-test: %s in %ds\n' "$([ "$FAILED" = 0 ] && echo 'all checks passed' || echo 'SOME CHECKS FAILED')" $((SECONDS - T0))
exit "$FAILED"
