"""The checks a request's options get, once, whichever door they came through.

Each error names the option by its canonical name (requests.py); the door
spells it its own way. Files are checked before any load is sent: a run whose
results have nowhere to go fails at once, not after its load.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mcpgate.app.requests import Judged, RunRequest
from mcpgate.config.base import MAX_VUS
from mcpgate.engine.shard import MAX_WORKERS
from mcpgate.protocol.transport import LEGACY_SSE
from mcpgate.protocol.versions import AUTO, is_modern
from mcpgate.results.io import read
from mcpgate.results.schema import Results
from mcpgate.support.errors import UsageError

Notice = Callable[[str], None]


def check_ranges(request: RunRequest) -> None:
    """Numbers and durations inside what the run can use."""
    if request.vus is not None and not 1 <= request.vus <= MAX_VUS:
        raise UsageError("vus", f"must be from 1 to {MAX_VUS}")
    if request.workers is not None and not 0 <= request.workers <= MAX_WORKERS:
        raise UsageError("workers", f"must be from 1 to {MAX_WORKERS} (or 0: one per available core)")
    for name in ("duration", "timeout", "connect_timeout", "drift_window"):
        seconds = getattr(request, name)
        if seconds is not None and seconds <= 0:
            raise UsageError(name.replace("_", "-"), "must be more than 0")
    if request.max_response_bytes is not None and request.max_response_bytes < 1024:
        raise UsageError("max-response-bytes", "must be at least 1024")


def check_versions(transport: str | None, version: str | None, expect: str | None) -> None:
    """A protocol version the transport cannot carry, or two versions that contradict each other."""
    version = version or AUTO
    if transport == LEGACY_SSE and is_modern(version):
        raise UsageError("protocol-version", f"{version} has no legacy SSE transport")
    if expect is not None and version not in (AUTO, expect):
        raise UsageError("expect-protocol-version", f"contradicts --protocol-version {version}")
    if expect is not None and transport == LEGACY_SSE and is_modern(expect):
        raise UsageError("expect-protocol-version", f"{expect} has no legacy SSE transport")


def header_map(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The extra headers, each once."""
    found: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in {h.lower() for h in found}:
            raise UsageError("headers", f"{name} is given twice")
        found[name] = value
    return found


def bearer_token(token: str | None, headers: dict[str, str]) -> str | None:
    """The token, checked: one line, and not beside an Authorization header."""
    if token is None:
        return None
    token = token.strip()
    if not token or any(c in token for c in "\r\n"):
        raise UsageError("bearer-token", "must be one non-empty line")
    if any(h.lower() == "authorization" for h in headers):
        raise UsageError("bearer-token", "an Authorization header is also given with --header; keep one")
    return token


_AUTH_FLAGS = {
    "auth": "type",
    "client_id": "client_id",
    "client_secret": "client_secret",
    "refresh_token": "refresh_token",
    "token_url": "token_url",
    "scope": "scope",
    "resource": "resource",
}


def auth_flags(request: RunRequest) -> dict[str, str]:
    """The ``target.auth`` keys the OAuth options give (only those given)."""
    given = {key: getattr(request, field) for field, key in _AUTH_FLAGS.items()}
    return {key: value for key, value in given.items() if value is not None}


def check_outputs(request: Judged) -> list[Path]:
    """The files the request writes, each with somewhere to go; as absolute paths."""
    paths = []
    for name in ("out", "markdown", "junit"):
        given: Path | None = getattr(request, name)
        if given is not None:
            check_out(request.path(given), name)
            paths.append(request.path(given))
    return paths


def check_out(path: Path, name: str) -> None:
    """Fail before any load, not after it: the results must have somewhere to go."""
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # a name the system refuses: too long, a symlink loop
        raise UsageError(name, f"{path}: {exc.strerror or exc}") from None
    if is_dir:
        raise UsageError(name, f"{path} is a directory")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(name, f"cannot create {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK):
        raise UsageError(name, f"{parent} is not writable")


def is_file(path: Path, name: str, shown: Path | str | None = None) -> bool:
    """Whether ``path`` is a file; a name the system refuses (too long, a loop) is the option's error."""
    try:
        return path.is_file()
    except OSError as exc:
        raise UsageError(name, f"{shown or path}: {exc.strerror or exc}") from None


def results_file(path: Path, name: str, shown: Path | str | None = None) -> Results:
    """A saved results file, or the option's one-line error."""
    shown = shown or path
    try:
        return read(path)
    except FileNotFoundError:
        raise UsageError(name, f"{shown}: no such file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(name, f"{shown}: {str(exc).splitlines()[0]}") from None


def read_baseline(request: Judged, notice: Notice | None) -> Results | None:
    """The baseline's results; with ``first_baseline_ok`` a file not there yet is the first run, not an error."""
    if request.baseline is None:
        return None
    path = request.path(request.baseline)
    if request.first_baseline_ok and not is_file(path, "baseline", request.baseline):
        if notice is not None:
            notice(f"no baseline at {request.baseline} yet: this run will be the first")
        return None
    return results_file(path, "baseline", request.baseline)


def read_template(request: Judged) -> Path | None:
    if request.summary_template is None:
        return None
    template = request.path(request.summary_template)
    if not is_file(template, "summary-template", request.summary_template):
        raise UsageError("summary-template", f"{request.summary_template}: no such file")
    return template


# What only a load test reads: a merge runs no load, so setting one of these beside it is a mistake.
LOAD_ONLY = ("url", "config", "profile", "vus", "duration", "workers", "thresholds", "tools", "shard", "start-at")


def check_step(*, merge: bool, smoke_only: bool, target: bool, monitor: bool, load_inputs: list[str]) -> None:
    """What one CI step may combine: a load test, a smoke check instead, or a merge; then a monitor check."""
    if merge:
        if load_inputs:
            raise UsageError(
                "merge", f"merges the shards' results instead of running a load: drop {', '.join(load_inputs)}"
            )
        if smoke_only:
            raise UsageError("merge", "merges the shards' results; it runs no smoke check (drop smoke-only)")
        return
    if not target and not monitor:
        raise UsageError("url", "give url (or config) for a load test or smoke check, or monitor-url")
    if smoke_only and not target:
        raise UsageError("smoke-only", "needs url (or config)")
