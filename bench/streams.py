"""Held streams at scale (issue 8): thousands of MCP sessions, each holding its stream for minutes.

The target is the official SDK's example server (``examples/server/server.py``), one process on
the target core: a server that can take the sessions, as a real deployment's would. mcpgate, on
the generator core, ramps ``sessions`` VUs up (a ``ramping-vus`` stage, so the server's accept
queue copes), each keeping one MCP session for its whole life (``flow.session: per-vu``) with its
stream held (``listen: true``: the standalone GET stream of stateful Streamable HTTP; with
``transport: sse`` the legacy HTTP+SSE stream the session lives on) and a light tool call after
every think time of several seconds, so the server is not the bottleneck. Then it holds them all.

The run's timeline is ``ramp``, ``settle`` (the last sessions open), ``hold``, and the run ends
with the hold: a stream that lived at least ``hold`` seconds was therefore open through the whole
hold (none opened later can have), so the streams held throughout are counted exactly from the
histogram of ``mcp_stream_duration``.

Measured: the most streams open at once (``mcp_streams_open``), how many were open in the last
progress line, how many were held through the whole hold, how each ended (``stream_closed``,
``stream_stalled``), the steps' error rate, mcpgate's memory (its process tree: peak, and per
session above what it used before the load), the file descriptors it held (``/proc/PID/fd``) and
its soft limit, and the server's memory, descriptors and CPU.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from bench.common import (
    LOOPBACK,
    ROOT,
    Sample,
    Sampler,
    free_port,
    parse_utc,
    raise_nofile,
    read_cpu_seconds,
    read_machine_cpu_seconds,
    run_mcpgate,
    spawn,
    stop_process,
)
from mcpgate.support.durations import parse_duration

EXAMPLE_SERVER = ROOT / "examples" / "server" / "server.py"
TRANSPORTS = ("streamable-http", "sse")
PROTOCOL_VERSION = "2025-11-25"  # the handshake era: 2026-07-28 has no stream to hold
TOOL = "get_record"  # a SQLite read: the lightest of the example server's tools

TARGET_SESSIONS = 2_000
TARGET_ERROR_RATE = 0.01


@dataclass(frozen=True)
class StreamsOptions:
    sessions: int = TARGET_SESSIONS
    ramp_s: float = 100.0  # 20 new sessions a second: the server's accept queue copes
    settle_s: float = 10.0  # at full strength before the hold counts
    hold_s: float = 180.0
    think: str = "10s..20s"  # ~130 tool calls/s at 2,000 sessions: the server is not the bottleneck
    transport: str = "streamable-http"  # or "sse": legacy HTTP+SSE
    stream_idle_timeout: str = "45s"  # three of the SDK's 15 s keepalives missed
    sample_interval: float = 1.0

    @property
    def run_s(self) -> float:
        return self.ramp_s + self.settle_s + self.hold_s


# -- the target: the SDK's example server ----------------------------------------------------------


@dataclass
class SdkServer:
    proc: subprocess.Popen[bytes]
    port: int
    transport: str
    command: list[str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}" + ("/sse" if self.transport == "sse" else "/mcp")

    def log_tail(self, size: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_bytes()[-size:].decode("utf-8", "replace")
        return ""

    def stop(self) -> None:
        stop_process(self.proc, sig=signal.SIGTERM, grace=10.0)


def server_command(port: int, transport: str) -> list[str]:
    cmd = [sys.executable, str(EXAMPLE_SERVER), "--port", str(port)]
    return [*cmd, "--transport", "sse"] if transport == "sse" else cmd


def start_server(transport: str, *, core: int | None, workdir: Path, ready_timeout: float = 30.0) -> SdkServer:
    """The example server on a free port, pinned to ``core``; ready once it accepts a connection."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    port = free_port()
    cmd = server_command(port, transport)
    log = workdir / f"sdk-server-{port}.log"
    with log.open("wb") as out:
        proc = spawn(cmd, core=core, stdout=out, stderr=out, cwd=ROOT)
    server = SdkServer(proc, port, transport, cmd, log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the example server exited with {proc.returncode}: {server.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"the example server on port {port} did not listen within {ready_timeout:g}s")


# -- mcpgate's config --------------------------------------------------------------------------


def config_yaml(url: str, o: StreamsOptions) -> str:
    """Per-VU sessions holding their stream, one light call per think time, ramped up, then held."""
    n = o.sessions
    return f"""# generated by bench/streams.py: {n:,} sessions, each holding its stream for the whole run
target: {{url: "{url}", transport: {o.transport}, protocol_version: "{PROTOCOL_VERSION}"}}
flow:
  session: per-vu              # one long session per VU, as an agent keeps it
  listen: true                 # hold the GET stream (legacy SSE: the session lives on its stream anyway)
  tools_list: true
  discover: seed               # tools/list only: the flow k6 and Locust run
  think_time: {o.think}
  stream_idle_timeout: {o.stream_idle_timeout}
  tools: [{{name: {TOOL}, arguments: {{id: "rec_{{{{ randint(0, 999) }}}}"}}}}]
scenarios:
  streams:
    executor: ramping-vus
    start_vus: 0
    stages:
      - {{duration: {o.ramp_s:g}s, target: {n}}}
      - {{duration: {o.settle_s + o.hold_s:g}s, target: {n}}}
    graceful_ramp_down: 0s
    graceful_stop: 15s
thresholds:
  mcp_streams_open: ["max>={n}"]
  checks: ["rate>={1 - TARGET_ERROR_RATE:g}"]
  http_req_failed: ["rate<{TARGET_ERROR_RATE:g}"]
"""


# -- reading what happened -------------------------------------------------------------------------

_PROGRESS = re.compile(
    r"^running (?P<t>\S+)/\S+\s+vus (?P<vus>\d+)/\d+\s+iterations (?P<it>[\d,]+).*?\bstreams (?P<streams>[\d,]+)\s*$"
)


def parse_progress(text: str) -> list[tuple[float, int, int]]:
    """(seconds into the load, VUs, streams open) from mcpgate's plain progress lines."""
    points: list[tuple[float, int, int]] = []
    for line in text.splitlines():
        match = _PROGRESS.match(line.strip())
        if match:
            with contextlib.suppress(ValueError):
                points.append((parse_duration(match["t"]), int(match["vus"]), int(match["streams"].replace(",", ""))))
    return points


def count_at_least(encoded: str | None, ms: float) -> int:
    """How many values of an encoded HDR histogram (µs, as mcpgate's results keep them) are >= ``ms``.

    A recorded value counts when its bucket's upper end reaches ``ms`` (3 significant digits:
    within 0.1%, 180 ms at three minutes).
    """
    if not encoded:
        return 0
    hist = HdrHistogram.decode(encoded)
    floor = int(ms * 1000)
    return sum(
        int(item.count_at_value_iterated_to) for item in hist.get_recorded_iterator() if item.value_iterated_to >= floor
    )


def _metric(results: dict[str, Any], key: str) -> dict[str, Any]:
    values = ((results.get("metrics") or {}).get(key) or {}).get("values") or {}
    return values if isinstance(values, dict) else {}


def _num(values: dict[str, Any], stat: str) -> float | None:
    found = values.get(stat)
    return float(found) if isinstance(found, int | float) else None


def _mb(kb: float | None) -> float | None:
    return round(kb / 1024, 1) if kb else None


def _window(samples: Sequence[Sample], start: float, end: float) -> list[Sample]:
    return [s for s in samples if start <= s.wall <= end]


def _cpu_percent(samples: Sequence[Sample]) -> float | None:
    """The process's CPU over the samples' span, as a percentage of one core."""
    if len(samples) < 2 or samples[-1].wall <= samples[0].wall:
        return None
    return round((samples[-1].cpu_s - samples[0].cpu_s) / (samples[-1].wall - samples[0].wall) * 100, 1)


def memory_figures(
    samples: Sequence[Sample], load_start: float | None, hold: tuple[float, float] | None
) -> dict[str, Any]:
    """Peak, as the load starts, during the hold (median), and what each session added, of a process tree."""
    started = [s for s in samples if load_start is not None and s.wall >= load_start]
    during = _window(samples, *hold) if hold else []
    base_kb = started[0].tree_rss_kb if started else None  # the first sample of the load: a few VUs at most
    hold_kb = statistics.median(s.tree_rss_kb for s in during) if during else None
    peak_kb = max((max(s.tree_rss_kb, s.hwm_kb) for s in samples), default=0)
    return {
        "peak_rss_mb": _mb(peak_kb),
        "rss_at_load_start_mb": _mb(base_kb),
        "rss_in_hold_mb": _mb(hold_kb),
        "processes": max((s.processes for s in samples), default=0),
        "cpu_percent_in_hold": _cpu_percent(during),
        "fds_peak": max((s.fds or 0 for s in samples), default=0) or None,
        "fds_in_hold": max((s.fds or 0 for s in during), default=0) or None,
        "fd_soft_limit": next((s.fd_soft_limit for s in reversed(samples) if s.fd_soft_limit), None),
        "_base_kb": base_kb,
        "_hold_kb": hold_kb,
    }


def vus_at(points: Sequence[dict[str, Any]], t: float) -> float | None:
    """The VUs running ``t`` seconds into the load, interpolated from the timeline's points."""
    known = [(0.0, 0.0), *((float(p["t"]), float(p.get("vus") or 0)) for p in points if "t" in p)]
    if len(known) < 2 or t < 0 or t > known[-1][0]:
        return None
    for (t_a, v_a), (t_b, v_b) in itertools.pairwise(known):
        if t <= t_b:
            return v_a + (v_b - v_a) * ((t - t_a) / (t_b - t_a) if t_b > t_a else 1.0)
    return None


def marginal_kib(
    samples: Sequence[Sample], points: Sequence[dict[str, Any]], load_start: float, ramp_s: float
) -> float | None:
    """KiB each further session adds: the slope of the tree's RSS against the VUs over the ramp's last
    three quarters, where the one-time costs of the first sessions (imports, the metric series) are paid."""
    pairs = []
    for s in samples:
        t = s.wall - load_start
        if ramp_s / 4 <= t <= ramp_s:
            vus = vus_at(points, t)
            if vus is not None:
                pairs.append((vus, float(s.tree_rss_kb)))
    if len(pairs) < 3 or max(v for v, _ in pairs) - min(v for v, _ in pairs) < 1:
        return None
    slope, _ = statistics.linear_regression([v for v, _ in pairs], [kb for _, kb in pairs])
    return round(slope, 1)


def per_session(figures: dict[str, Any], sessions: int, marginal: float | None) -> dict[str, Any]:
    """KiB per session three ways: what the load added (in the hold, over its start), what each
    further session added during the ramp, and everything included (peak / sessions)."""
    base, hold, peak = figures.pop("_base_kb"), figures.pop("_hold_kb"), figures["peak_rss_mb"]
    figures["kib_per_session_added"] = round((hold - base) / sessions, 1) if base and hold and sessions else None
    figures["kib_per_session_marginal"] = marginal
    figures["kib_per_session_all_in"] = round(peak * 1024 / sessions, 1) if peak and sessions else None
    return figures


# -- the benchmark -------------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_streams(
    o: StreamsOptions,
    *,
    target_core: int | None,
    generator_core: int | None,
    workdir: Path,
    say: Callable[[str], None] = lambda _text: None,
) -> dict[str, Any]:
    """Start the SDK server, run mcpgate against it with every sampler on, and judge what it held."""
    if o.sessions < 1 or o.hold_s <= 0 or o.ramp_s < 0 or o.settle_s < 0:
        raise ValueError("streams: sessions must be >= 1, hold > 0, ramp and settle >= 0")
    # Each session holds two sockets on each side (its stream, its requests' connection): make
    # room for them in both processes, which inherit this limit.
    nofile = raise_nofile(4 * o.sessions + 2048)
    server = start_server(o.transport, core=target_core, workdir=workdir)
    config = workdir / "streams.yaml"
    config.write_text(config_yaml(server.url, o))
    out = workdir / "streams.json"
    say(
        f"streams: {o.sessions:,} sessions ({o.transport}), ramp {o.ramp_s:g}s, hold {o.hold_s:g}s, "
        f"think {o.think}, against the SDK example server"
    )
    server_cpu0 = read_cpu_seconds(server.proc.pid) or 0.0
    busy0 = read_machine_cpu_seconds()
    children0 = _children_cpu()
    wall0 = time.monotonic()
    interval = o.sample_interval
    try:
        limit = int((o.run_s + 120) / interval) + 100
        with Sampler(server.proc.pid, interval=interval, max_samples=limit, fds=True) as server_sampler:
            run = run_mcpgate(
                config,
                out,
                core=generator_core,
                deadline_s=o.run_s + 90,
                extra_args=["--interval", "1s"],
                sample_interval=interval,
                workdir=workdir,
                progress=True,
                fds=True,
            )
        generator_cpu = _children_cpu() - children0  # mcpgate's whole tree, reaped; the server is not yet
        server_alive = server.proc.poll() is None
        server_cpu = (read_cpu_seconds(server.proc.pid) or server_cpu0) - server_cpu0
    finally:
        server.stop()
    wall = time.monotonic() - wall0
    busy1 = read_machine_cpu_seconds()
    others = None
    if busy0 is not None and busy1 is not None and wall > 0:
        others = round(max(0.0, busy1[0] - busy0[0] - generator_cpu - server_cpu) / wall * 100, 1)

    results = run.results or {}
    started = (results.get("run") or {}).get("started_at")
    load_start = parse_utc(started) if started else None
    hold = (load_start + o.ramp_s + o.settle_s, load_start + o.run_s) if load_start is not None else None
    stderr = run.stderr_tail
    with contextlib.suppress(OSError):
        stderr = (workdir / (out.stem + ".stderr.log")).read_text(errors="replace")
    progress = parse_progress(stderr)
    in_hold = [p for p in progress if o.ramp_s + o.settle_s <= p[0] < o.run_s]  # the last line is the end's

    opened = _metric(results, "mcp_streams_open")
    durations = _metric(results, "mcp_stream_duration")
    checks = _metric(results, "checks")
    failed_http = _metric(results, "http_req_failed")
    passes, fails = _num(checks, "passes") or 0.0, _num(checks, "fails") or 0.0
    streams_total = int(_num(durations, "count") or 0)
    closed = int(_num(_metric(results, "mcp_errors_stream_closed"), "count") or 0)
    stalled = int(_num(_metric(results, "mcp_errors_stream_stalled"), "count") or 0)
    held_through = count_at_least(
        ((results.get("metrics") or {}).get("mcp_stream_duration") or {}).get("hdr"), o.hold_s * 1000
    )
    step_error_rate = round(fails / (passes + fails), 5) if passes + fails else None
    stream_loss_rate = round((closed + stalled) / streams_total, 5) if streams_total else None
    errors = {
        str(entry.get("class")): {"count": entry.get("count"), "samples": (entry.get("samples") or [])[:3]}
        for entry in results.get("errors") or []
        if isinstance(entry, dict) and entry.get("count")
    }
    points = (results.get("timeseries") or {}).get("points") or []

    def marginal(samples: Sequence[Sample]) -> float | None:
        return marginal_kib(samples, points, load_start, o.ramp_s) if load_start is not None else None

    mcpgate = per_session(memory_figures(run.samples, load_start, hold), o.sessions, marginal(run.samples))
    mcpgate["cpu_s"] = round(generator_cpu, 2)
    mcpgate["workers"] = (results.get("run") or {}).get("workers")
    target = per_session(
        memory_figures(server_sampler.samples, load_start, hold), o.sessions, marginal(server_sampler.samples)
    )
    target["cpu_s"] = round(server_cpu, 2)
    target["cpu_percent"] = round(server_cpu / wall * 100, 1) if wall > 0 else None
    target["alive_at_end"] = server_alive

    held_max = int(_num(opened, "max") or 0)
    met = bool(
        run.exit_code == 0
        and held_max >= o.sessions
        and held_through >= o.sessions * (1 - TARGET_ERROR_RATE)
        and step_error_rate is not None
        and step_error_rate < TARGET_ERROR_RATE
        and stream_loss_rate is not None
        and stream_loss_rate < TARGET_ERROR_RATE
    )
    say(
        f"  streams: max {held_max:,} at once, {held_through:,} held through the {o.hold_s:g}s hold, "
        f"{closed} closed, {stalled} stalled; steps not ok {_pct(step_error_rate)}; "
        f"mcpgate {mcpgate['peak_rss_mb']} MB, {mcpgate['fds_peak']} fds; server {target['peak_rss_mb']} MB, "
        f"CPU {target['cpu_percent']}%"
    )
    return {
        "options": asdict(o),
        "how": {
            "server": server.command,
            "server_url": server.url,
            "mcpgate": run.command,
            "config": config.read_text(),
            "nofile": nofile,
        },
        "mcpgate_exit_code": run.exit_code,
        "mcpgate_status": (results.get("run") or {}).get("status"),
        "mcpgate_reason": (results.get("run") or {}).get("reason"),
        "timed_out": run.timed_out,
        "streams": {
            "max_open": held_max,
            "open_after_run": _num(opened, "value"),
            "open_in_last_progress_line": in_hold[-1][2] if in_hold else None,
            "min_open_in_hold_progress_lines": min((p[2] for p in in_hold), default=None),
            "held_through_hold": held_through,
            "opened": streams_total,
            "closed": closed,
            "stalled": stalled,
            "loss_rate": stream_loss_rate,
            "events": int(_num(_metric(results, "mcp_stream_events"), "count") or 0),
            "server_requests": int(_num(_metric(results, "mcp_server_requests"), "count") or 0),
            "duration_ms": {k: _num(durations, k) for k in ("med", "p(95)", "max")},
        },
        "steps": {
            "ok": int(passes),
            "not_ok": int(fails),
            "error_rate": step_error_rate,
            "http_reqs": int(_num(_metric(results, "http_reqs"), "count") or 0),
            "http_req_failed_rate": _num(failed_http, "rate"),
            "tool_calls": int(_num(_metric(results, "mcp_tool_duration"), "count") or 0),
            "tool_p95_ms": _num(_metric(results, "mcp_tool_duration"), "p(95)"),
            "init_p95_ms": _num(_metric(results, "mcp_init_duration"), "p(95)"),
            "init_errors": int(_num(_metric(results, "mcp_init_errors"), "count") or 0),
            "session_reinit": int(_num(_metric(results, "mcp_session_reinit"), "count") or 0),
            "errors": errors,
        },
        "mcpgate": mcpgate,
        "server": target,
        "progress": [list(p) for p in progress],
        "contention": {
            "wall_s": round(wall, 1),
            "other_processes_cpu_percent": others,
        },
        "stderr_tail": run.stderr_tail[-1500:] if run.exit_code != 0 else "",
        "server_log_tail": server.log_tail(1500) if not server_alive or not met else "",
        "verdict": {
            "target": (
                f"{o.sessions:,} streams held at once and through the whole {o.hold_s:g}s hold "
                f"(at least {1 - TARGET_ERROR_RATE:.0%} of them), < {TARGET_ERROR_RATE:.0%} of steps not ok, "
                f"< {TARGET_ERROR_RATE:.0%} of streams closed or stalled"
            ),
            "met": met,
            "at_target_scale": o.sessions >= TARGET_SESSIONS,
        },
    }


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.2%}"
