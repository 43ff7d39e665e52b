"""The benchmark suite: ``make bench`` (or ``python -m bench``), every performance figure in one run.

Side by side on one stub target (nginx + njs, its worker on the first core) with every generator
on the second core: mcpgate, k6, Locust and wrk, the same MCP flow for the first three. Then the
figures that only concern mcpgate: its client-side latency overhead, what a server stall does to
its percentiles (open versus closed model), its start-up time, its scaling over worker processes,
how much memory a virtual user costs (beside k6's), and its memory over a million requests.

Writes ``bench/results/suite-<date>.json`` (everything, with each run's command) and ``.txt``
(the tables the README quotes). Bounded: every run has a deadline, the whole suite a time limit,
and only processes it started are stopped, by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import Any

from bench import peers
from bench.common import (
    LOOPBACK,
    RESULTS_DIR,
    Cores,
    Stub,
    alive,
    load_average,
    machine_info,
    mcpgate_command,
    plan_cores,
    raise_nofile,
    read_cpu_seconds,
    read_machine_cpu_seconds,
    start_stub,
    stop_process,
    stub_missing,
    usable_cores,
    utc_now,
    write_json,
)
from bench.peers import PeerRun
from bench.streams import StreamsOptions, run_streams

SCHEMA = "mcpgate-bench/suite/v1"
PARTS = ("throughput", "latency", "stall", "startup", "scaling", "density", "streams", "memory")
DELAY_MS = 5  # the stub's fixed tools/call delay for the latency benchmark
STALL_AT_S = 4.0  # seconds into the stall benchmark's load when the stub is frozen
STALL_FOR_S = 1.0

# Issue 8's targets (density; the streams part's are in bench/streams.py).
DENSITY_SIZES = (2_000, 10_000)
DENSITY_THINK_S = (0.5, 2.0)
TARGET_DENSITY_VUS = 10_000
TARGET_DENSITY_MB = 500.0
K6_MEMORY_CAP_MB = 12 * 1024.0  # a bound on k6 at 10,000 VUs (it needs a few GiB)

# Issue 6's targets.
TARGET_VS_K6 = 1.5
TARGET_OVERHEAD_P50_MS = 0.5
TARGET_OVERHEAD_P99_MS = 2.0
TARGET_PEAK_RSS_MB = 80.0
TARGET_FLAT = 0.10
TARGET_STARTUP_S = 1.0
TARGET_SCALING = 1.8


@dataclass(frozen=True)
class Options:
    seconds: float = 15.0
    vus: int = 50
    parts: tuple[str, ...] = PARTS
    quick: bool = False  # shorter runs, no 10,000-VU run, a 200k-request soak
    soak_requests: int = 1_000_000
    max_seconds: float = 2400.0
    out_dir: Path = RESULTS_DIR
    streams: StreamsOptions | None = None  # None: the defaults (a shorter hold with --quick)


@dataclass
class Context:
    options: Options
    cores: Cores
    work: Path
    stub: Stub | None = None
    say: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr, flush=True))
    deadline: float = 0.0
    found: dict[str, Any] = field(default_factory=dict)  # what a part hands to a later one

    def left(self) -> float:
        return self.deadline - time.monotonic()


# -- contention: what else the machine did meanwhile ----------------------------------------------


class Meanwhile:
    """Busy CPU of the whole machine across a run, less the generator and the stub: other processes."""

    def __init__(self, stub: Stub | None) -> None:
        self.stub = stub
        self.wall = time.monotonic()
        busy = read_machine_cpu_seconds()
        self.busy = busy[0] if busy else None
        self.stub_cpu = self._stub_cpu()

    def _stub_cpu(self) -> float:
        if self.stub is None:
            return 0.0
        return sum(read_cpu_seconds(pid) or 0.0 for pid in [self.stub.proc.pid, *self.stub.workers])

    def report(self, generator_cpu: float) -> dict[str, float | None]:
        wall = time.monotonic() - self.wall
        busy = read_machine_cpu_seconds()
        stub = self._stub_cpu() - self.stub_cpu
        others = None
        if busy is not None and self.busy is not None and wall > 0:
            others = round(max(0.0, busy[0] - self.busy - generator_cpu - stub) / wall * 100, 1)
        return {
            "target_cpu_percent": round(stub / wall * 100, 1) if wall > 0 else None,
            "other_processes_cpu_percent": others,
        }


def measured(ctx: Context, run: Callable[[], PeerRun]) -> PeerRun:
    meanwhile = Meanwhile(ctx.stub)
    result = run()
    result.extra.update(meanwhile.report(result.cpu_s))
    return result


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


# -- the parts --------------------------------------------------------------------------------


def throughput(ctx: Context) -> dict[str, Any]:
    """mcpgate, k6, Locust (the same flow, checks on) and wrk (one request, no flow) on one core each."""
    o, stub = ctx.options, ctx.stub
    assert stub is not None
    core = ctx.cores.generator
    runs: dict[str, PeerRun] = {}
    ctx.say(f"throughput: {o.vus} users, {o.seconds:g}s each, generator {ctx.cores.describe()}")
    runs["wrk"] = measured(
        ctx, lambda: peers.run_wrk(stub.url, core=core, connections=o.vus, seconds=o.seconds, workdir=ctx.work)
    )
    config = peers.mcpgate_config(stub.url, peers.constant_vus(o.vus, o.seconds))
    runs["mcpgate"] = measured(
        ctx, lambda: peers.run_mcpgate("mcpgate", config, core=core, seconds=o.seconds, workdir=ctx.work)
    )
    runs["k6"] = measured(
        ctx, lambda: peers.run_k6(stub.url, core=core, vus=o.vus, seconds=o.seconds, workdir=ctx.work)
    )
    runs["locust"] = measured(
        ctx, lambda: peers.run_locust(stub.url, core=core, vus=o.vus, seconds=o.seconds, workdir=ctx.work)
    )
    for name, run in runs.items():
        ctx.say(f"  {name:8} {run.requests_per_s or 0:>10,.0f} req/s  {run.failed} failed  CPU {run.cpu_s:.1f}s")
    mc = runs["mcpgate"]
    ctx.found["mcpgate_iterations_per_s"] = (mc.extra.get("iterations") or 0) / mc.seconds if mc.seconds else 0
    ratios = {
        f"mcpgate/{other}": ratio(mc.requests_per_s, runs[other].requests_per_s) for other in ("k6", "locust", "wrk")
    }
    per_cpu = {
        f"mcpgate/{other}": ratio(mc.requests_per_cpu_s, runs[other].requests_per_cpu_s) for other in ("k6", "locust")
    }
    vs_k6 = ratios["mcpgate/k6"]
    clean = all(runs[n].failed == 0 and runs[n].requests > 0 for n in ("mcpgate", "k6", "locust"))
    return {
        "runs": {name: _public(run) for name, run in runs.items()},
        "ratios": ratios,
        "ratios_per_cpu_second": per_cpu,
        "verdict": {
            "target": f"mcpgate >= {TARGET_VS_K6}x k6's requests/s on one generator core, every check on",
            "met": bool(vs_k6 is not None and vs_k6 >= TARGET_VS_K6 and clean),
            "clean": clean,
        },
    }


def _public(run: PeerRun) -> dict[str, Any]:
    data = run.summary()
    data.pop("results", None)
    data.pop("stdout_path", None)
    if run.exit_code not in (0, None) or run.timed_out:
        data["stderr_tail"] = run.stderr_tail[-1500:]
    return data


def latency(ctx: Context) -> dict[str, Any]:
    """Client-side latency overhead at half of mcpgate's maximum rate, with a tool that takes 5 ms.

    mcpgate runs the flow at half its saturated iteration rate (an open model, so its own
    queueing would show) against the stub, whose ``tools/call`` waits 5 ms there. Two figures:

    - the estimate, which the verdict judges: mcpgate's ``tools/call`` percentiles less those wrk
      measures with one connection on the same endpoint during the same run (nginx's timers are not
      exact to the millisecond under load, so the server's time is measured, not assumed);
    - an upper bound: the whole round trip of the requests the stub answers at once (initialize,
      tools/list), server and kernel included. Below the targets it settles the question alone;
      above them it says nothing, as the server's own queueing is in it.
    """
    o, stub = ctx.options, ctx.stub
    assert stub is not None
    core = ctx.cores.generator
    url = stub.delay_url(DELAY_MS)
    iterations_max = float(ctx.found.get("mcpgate_iterations_per_s") or 0.0)
    if iterations_max <= 0:  # throughput was not run: measure the maximum now
        config = peers.mcpgate_config(stub.url, peers.constant_vus(o.vus, 8))
        cal = peers.run_mcpgate("calibrate", config, core=core, seconds=8, workdir=ctx.work)
        iterations_max = (cal.extra.get("iterations") or 0) / cal.seconds if cal.seconds else 0.0
    rate = max(1.0, round(iterations_max / 2))
    vus = max(20, int(rate * 0.02) + 1)  # VUs for twice the ~(5 + 4 x 0.3) ms an iteration takes
    ctx.say(f"latency: mcpgate at {rate:g} iterations/s (half its maximum) for {o.seconds:g}s, 5 ms tool; wrk beside")
    config = peers.mcpgate_config(url, peers.arrival(rate, o.seconds, vus, vus * 4))
    beside = max(1.0, o.seconds - 4)
    # wrk's one connection runs on the target's core: its few hundred requests/s barely load it,
    # and it must not compete with mcpgate for mcpgate's core.
    observer = _Beside(
        functools.partial(
            peers.run_wrk,
            url,
            core=ctx.cores.target,
            connections=1,
            seconds=beside,
            workdir=ctx.work,
            name="wrk-beside",
            script=peers.WRK_CALL,
        ),
        after=2.0,
    )
    observer.start()
    try:
        run = measured(
            ctx, lambda: peers.run_mcpgate("mcpgate-delay", config, core=core, seconds=o.seconds, workdir=ctx.work)
        )
    finally:
        observer.join(beside + 60)
    results = run.extra.get("results") or {}
    tool = _values(results, "http_req_duration{method:tools/call}")
    instant = {m: _values(results, f"http_req_duration{{method:{m}}}") for m in ("initialize", "tools/list")}
    bound_p50 = max(float(v.get("med") or 0.0) for v in instant.values())
    bound_p99 = max(float(v.get("p(99)") or 0.0) for v in instant.values())
    server = observer.result.latency_ms if observer.result is not None else {}
    est_p50 = _minus(tool.get("med"), server.get("p(50)"))
    est_p99 = _minus(tool.get("p(99)"), server.get("p(99)"))
    ctx.say(
        f"  the 5 ms tool: {_signed(est_p50)} / {_signed(est_p99)}; "
        f"instant answers p50 {bound_p50} ms, p99 {bound_p99} ms"
    )
    clean = run.failed == 0 and not run.extra.get("dropped_iterations")
    return {
        "mcpgate": {
            "rate_iterations_per_s": rate,
            "of_maximum": round(rate / iterations_max, 2) if iterations_max else None,
            "requests_per_s": run.requests_per_s,
            "dropped_iterations": run.extra.get("dropped_iterations"),
            "failed": run.failed,
            "tools_call_ms": {k: tool.get(k) for k in ("med", "p(95)", "p(99)", "max")},
            "instant_ms": {m: {k: v.get(k) for k in ("med", "p(99)", "max")} for m, v in instant.items()},
        },
        "wrk_beside_ms": server,
        "overhead_ms": {
            "upper_bound_p50": round(bound_p50, 3),
            "upper_bound_p99": round(bound_p99, 3),
            "estimate_p50": est_p50,
            "estimate_p99": est_p99,
        },
        "verdict": {
            "target": f"overhead < {TARGET_OVERHEAD_P50_MS} ms at p50 and < {TARGET_OVERHEAD_P99_MS} ms at p99",
            "met": bool(
                clean
                and est_p50 is not None
                and est_p99 is not None
                and est_p50 < TARGET_OVERHEAD_P50_MS
                and est_p99 < TARGET_OVERHEAD_P99_MS
            ),
            "upper_bound_within": bool(
                0 < bound_p50 < TARGET_OVERHEAD_P50_MS and 0 < bound_p99 < TARGET_OVERHEAD_P99_MS
            ),
        },
    }


class _Beside(threading.Thread):
    """A peer run started ``after`` seconds from now, beside the main one."""

    def __init__(self, run: Callable[[], PeerRun], *, after: float) -> None:
        super().__init__(daemon=True)
        self._run = run
        self._after = after
        self.result: PeerRun | None = None

    def run(self) -> None:
        time.sleep(self._after)
        self.result = self._run()


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f} ms"


def _values(results: dict[str, Any], key: str) -> dict[str, Any]:
    return ((results.get("metrics") or {}).get(key) or {}).get("values") or {}


def _minus(a: Any, b: Any) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return round(float(a) - float(b), 3)
    return None


def stall(ctx: Context) -> dict[str, Any]:
    """Freeze the stub for a second mid-run: an open model records it, a closed one hides it."""
    o, stub = ctx.options, ctx.stub
    assert stub is not None
    core = ctx.cores.generator
    seconds = 10.0
    rate = 200
    out: dict[str, Any] = {
        "stall": {"at_s": STALL_AT_S, "for_s": STALL_FOR_S, "how": "SIGSTOP, then SIGCONT, of the stub's nginx worker"}
    }
    scenarios = {
        "open": peers.arrival(rate, seconds, 50, 1000),
        "closed": peers.constant_vus(o.vus, seconds),
    }
    for model, scenario in scenarios.items():
        ctx.say(f"stall: {model} model, the stub frozen {STALL_FOR_S:g}s at {STALL_AT_S:g}s")
        config = peers.mcpgate_config(stub.url, scenario)
        freezer = _Freezer(stub, at=STALL_AT_S + 0.5, length=STALL_FOR_S)  # + the preflight and start-up
        freezer.start()
        try:
            run = peers.run_mcpgate(f"stall-{model}", config, core=core, seconds=seconds, workdir=ctx.work)
        finally:
            freezer.finish()
        results = run.extra.get("results") or {}
        requests = _values(results, "http_req_duration")
        iterations = _values(results, "iteration_duration")
        out[model] = {
            "scenario": scenario.strip().splitlines()[0].split(": ", 1)[1],
            "requests": run.requests,
            "http_req_duration_ms": {k: requests.get(k) for k in ("med", "p(95)", "p(99)", "max")},
            "iteration_duration_ms": {k: iterations.get(k) for k in ("med", "p(95)", "p(99)", "max")},
            "frozen": freezer.frozen,
        }
        ctx.say(f"  http_req_duration p99 {requests.get('p(99)')} ms, max {requests.get('max')} ms")
    # Open: every iteration due during the stall waits it out, so about 2% of the requests (one in
    # each of one second's iterations, of ten seconds' five requests each) take up to its length.
    open_p99 = out["open"]["http_req_duration_ms"].get("p(99)") or 0.0
    out["verdict"] = {
        "target": "with an arrival-rate executor, a server stall shows in the latency percentiles",
        "met": bool(out["open"]["frozen"] and open_p99 >= STALL_FOR_S * 1000 * 0.25),
    }
    return out


class _Freezer(threading.Thread):
    """SIGSTOP the stub's worker at ``at`` seconds from now, SIGCONT it ``length`` seconds later."""

    def __init__(self, stub: Stub, *, at: float, length: float) -> None:
        super().__init__(daemon=True)
        self.stub = stub
        self.at = at
        self.length = length
        self.frozen = False
        self._done = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        if self._done.wait(self.at):
            return
        pids = [p for p in self.stub.workers if alive(p)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        self.frozen = bool(pids)
        try:
            self._done.wait(self.length)
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def finish(self) -> None:
        self._done.set()
        self.join(self.length + 5)
        for pid in self.stub.workers:  # never leave the stub frozen
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def startup(ctx: Context) -> dict[str, Any]:
    """From starting ``mcpgate run`` to its first request arriving at the server, five times."""
    times: list[float] = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: bytecode cached
    for attempt in range(6):  # the first one only warms the bytecode cache
        elapsed = _first_request_after_start(env)
        if attempt and elapsed is not None:
            times.append(elapsed)
    median = round(statistics.median(times), 3) if times else None
    ctx.say(f"startup: CLI to first request, median {median}s over {len(times)} runs")
    return {
        "seconds": [round(t, 3) for t in times],
        "median_s": median,
        "max_s": round(max(times), 3) if times else None,
        "verdict": {
            "target": f"CLI to first request < {TARGET_STARTUP_S:g} s",
            "met": bool(median and median < TARGET_STARTUP_S),
        },
    }


def _first_request_after_start(env: dict[str, str]) -> float | None:
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(8)
        listener.settimeout(10.0)
        port = listener.getsockname()[1]
        cmd = [*mcpgate_command(), "run", "--url", f"http://{LOOPBACK}:{port}/mcp", "--no-progress", "--workers", "1"]
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10.0)
                first = conn.recv(1)
                arrived = time.monotonic()
            return arrived - started if first else None
        except OSError:
            return None
        finally:
            stop_process(proc, sig=signal.SIGTERM, grace=10.0)


def scaling(ctx: Context) -> dict[str, Any]:
    """One worker against two: measured on two free cores when there are, else projected from CPU time."""
    o, stub = ctx.options, ctx.stub
    assert stub is not None
    cores = usable_cores()
    config = peers.mcpgate_config(stub.url, peers.constant_vus(o.vus * 2, o.seconds))
    one_core = ctx.cores.generator
    if len(cores) >= 3:
        two: int | str | None = f"{cores[1]},{cores[2]}"
        how = f"measured: one worker on core {cores[1]}, two on cores {two}"
    else:
        two = one_core
        how = (
            f"projected: this machine has {len(cores)} usable cores and the stub needs one, so both runs share core "
            f"{one_core}; two free cores would give two workers twice the CPU of one, so the scaling is 2 x (requests "
            "per CPU-second with two workers / with one)"
        )
    ctx.say(f"scaling: {how.split(':')[0]}")
    runs: dict[int, PeerRun] = {}
    for workers, core in ((1, one_core), (2, two)):
        runs[workers] = measured(
            ctx,
            functools.partial(
                peers.run_mcpgate,
                f"workers-{workers}",
                config,
                core=core,
                seconds=o.seconds,
                workdir=ctx.work,
                workers=workers,
            ),
        )
    one, both = runs[1], runs[2]
    if len(cores) >= 3:
        factor = ratio(both.requests_per_s, one.requests_per_s)
    else:
        efficiency = ratio(both.requests_per_cpu_s, one.requests_per_cpu_s)
        factor = round(2 * efficiency, 2) if efficiency else None
    ctx.say(f"  scaling x{factor}")
    return {
        "how": how,
        "runs": {str(w): _public(r) for w, r in runs.items()},
        "scaling": factor,
        "verdict": {
            "target": f">= {TARGET_SCALING}x from one core to two when the target is not the bottleneck",
            "met": bool(factor and factor >= TARGET_SCALING and both.failed == 0),
            "projected": len(cores) < 3,
        },
    }


def density(ctx: Context) -> dict[str, Any]:
    """Many VUs with the seed's think time (0.5-2 s): memory per VU, mcpgate beside k6 at each size.

    Both run the same flow against the stub from the same generator core, one after the other.
    Memory is the whole process tree's peak (workers included); the work each did is shown beside
    it, as a generator that does less per VU is not a fair comparison.
    """
    o, stub = ctx.options, ctx.stub
    assert stub is not None
    core = ctx.cores.generator
    seconds = 10.0 if o.quick else 20.0
    sizes = (2_000,) if o.quick else DENSITY_SIZES
    out: dict[str, Any] = {
        "think_time": "0.5s..2s",
        "seconds": seconds,
        "sizes": list(sizes),
        # A VU can do at most one iteration per think time (1.25 s on average) plus the flow's time.
        "iterations_per_vu_s_bound": round(1 / statistics.mean(DENSITY_THINK_S), 3),
    }
    for vus in sizes:
        ctx.say(f"density: mcpgate with {vus:,} VUs")
        config = peers.mcpgate_config(stub.url, peers.constant_vus(vus, seconds), think="0.5s..2s")
        run = measured(
            ctx,
            functools.partial(
                peers.run_mcpgate, f"density-{vus}", config, core=core, seconds=seconds, workdir=ctx.work
            ),
        )
        out[f"mcpgate_{vus}"] = _density_row(run, vus)
        ctx.say(f"density: k6 with {vus:,} VUs")
        k6 = measured(
            ctx,
            functools.partial(
                peers.run_k6,
                stub.url,
                core=core,
                vus=vus,
                seconds=seconds,
                workdir=ctx.work,
                name=f"k6-density-{vus}",
                think="0.5..2",
                max_tree_rss_mb=K6_MEMORY_CAP_MB,
            ),
        )
        out[f"k6_{vus}"] = _density_row(k6, vus)
        out[f"memory_ratio_k6/mcpgate_{vus}"] = ratio(out[f"k6_{vus}"]["peak_mb"], out[f"mcpgate_{vus}"]["peak_mb"])
        for name in ("mcpgate", "k6"):
            row = out[f"{name}_{vus}"]
            ctx.say(
                f"  {name:8} {row['peak_mb']} MB ({row['mb_per_vu']} MB/VU), {row['requests']:,} requests, "
                f"{row['failed']} failed, {row['iterations_per_vu_s']} iterations per VU-second"
            )
    top = out.get(f"mcpgate_{TARGET_DENSITY_VUS}")
    out["verdict"] = {
        "target": (
            f"{TARGET_DENSITY_VUS:,} VUs (0.5-2 s think time) in < {TARGET_DENSITY_MB:g} MB: mcpgate's whole "
            f"process tree at its peak, with < 1% of requests failed"
        ),
        "met": None
        if top is None
        else bool(
            top["peak_mb"] is not None
            and top["peak_mb"] < TARGET_DENSITY_MB
            and top["exit_code"] == 0
            and top["requests"] > 0
            and (top["failed_rate"] or 0) < 0.01
        ),
    }
    if top is None:
        out["verdict"]["note"] = f"not run: --quick runs {sizes[0]:,} VUs only"
    return out


def _density_row(run: PeerRun, vus: int) -> dict[str, Any]:
    """A density run's figures: the tree's peak (the larger of the sampled tree and the main process's VmHWM)."""
    peak = max(run.peak_rss_mb or 0.0, run.peak_tree_rss_mb or 0.0) or None
    iterations = int(run.extra.get("iterations") or 0)
    return _public(run) | {
        "vus": vus,
        "wall_s": run.wall_s,
        # Of its one core, over its whole life (k6's VU initialization included): near 100% is saturated.
        "cpu_percent": round(run.cpu_s / run.wall_s * 100, 1) if run.wall_s else None,
        "peak_mb": peak,
        "mb_per_vu": round(peak / vus, 4) if peak else None,
        "failed_rate": round(run.failed / run.requests, 5) if run.requests else None,
        "iterations_per_vu_s": round(iterations / (vus * run.seconds), 3) if run.seconds else None,
    }


def streams(ctx: Context) -> dict[str, Any]:
    """2,000 MCP sessions holding their streams for minutes against the SDK's example server (bench/streams.py)."""
    o = ctx.options.streams or (QUICK_STREAMS if ctx.options.quick else StreamsOptions())
    return run_streams(
        o,
        target_core=ctx.cores.target,
        generator_core=ctx.cores.generator,
        workdir=ctx.work,
        say=ctx.say,
    )


QUICK_STREAMS = StreamsOptions(ramp_s=60.0, settle_s=10.0, hold_s=60.0)


def memory(ctx: Context) -> dict[str, Any]:
    """The soak benchmark (bench/soak.py): RSS at 100k and at 1M requests, and the peak."""
    from bench.soak import SoakOptions, soak

    o = ctx.options
    requests = 200_000 if o.quick else o.soak_requests
    checkpoint = min(100_000, requests // 2)
    budget = max(120.0, min(900.0, ctx.left() - 30))
    stamp = time.strftime("%Y-%m-%d-%H%M%S", time.gmtime())
    report = soak(
        SoakOptions(
            requests=requests, checkpoint=checkpoint, max_seconds=budget, out_dir=o.out_dir, name=f"soak-{stamp}"
        ),
        log=ctx.say,
    )
    mem = report["memory"]
    peak = mem.get("peak_rss_mb")
    return {
        "requests": mem.get("requests_sent"),
        "rss_at_checkpoint_mb": mem.get("rss_at_checkpoint_mb"),
        "checkpoint_requests": checkpoint,
        "rss_at_end_mb": mem.get("rss_at_target_mb"),
        "ratio": mem.get("ratio"),
        "peak_rss_mb": peak,
        "report": report.get("files"),
        "verdict": {
            "target": (
                f"peak RSS <= {TARGET_PEAK_RSS_MB:g} MB at {requests:,} requests, "
                f"flat (within {TARGET_FLAT:.0%}) from {checkpoint:,}"
            ),
            "met": bool(
                report["verdict"]["target_reached"] and mem.get("flat") and peak and peak <= TARGET_PEAK_RSS_MB
            ),
        },
    }


RUNNERS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "throughput": throughput,
    "latency": latency,
    "stall": stall,
    "startup": startup,
    "scaling": scaling,
    "density": density,
    "streams": streams,
    "memory": memory,
}
NEEDS_STUB = ("throughput", "latency", "stall", "scaling", "density")
NOFILE_WANTED = 65_536


# -- the suite --------------------------------------------------------------------------------


def run_suite(options: Options, *, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    reason = stub_missing()
    if reason is not None and any(p in NEEDS_STUB or p == "memory" for p in options.parts):
        raise RuntimeError(reason)
    missing = [p for p in peers.missing_peers() if _needs(options, p)]
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: run bench/setup.sh first")
    cores = plan_cores()
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "started_at": utc_now(),
        "machine": machine_info(),
        "pinning": {"target_core": cores.target, "generator_core": cores.generator, "describe": cores.describe()},
        "options": {k: _plain(v) for k, v in vars(options).items()},
        "load_average_before": load_average(),
        # Thousands of sockets in one process: the limit every process the suite starts inherits.
        "nofile": raise_nofile(NOFILE_WANTED),
    }
    with tempfile.TemporaryDirectory(prefix="mcpgate-suite-") as tmp:
        ctx = Context(options, cores, Path(tmp), deadline=time.monotonic() + options.max_seconds)
        if say is not None:
            ctx.say = say
        stubbed = [p for p in options.parts if p in NEEDS_STUB]
        if stubbed:
            ctx.stub = start_stub(core=cores.target)
        try:
            for part in options.parts:
                if part == "memory":
                    continue  # it starts its own stub, once this one is gone
                if ctx.left() <= 0:
                    report[part] = {"skipped": "the suite's time limit was reached"}
                    continue
                report[part] = RUNNERS[part](ctx)
        finally:
            if ctx.stub is not None:
                ctx.stub.stop()
                ctx.stub = None
        if "memory" in options.parts:
            report["memory"] = memory(ctx) if ctx.left() > 120 else {"skipped": "the suite's time limit was reached"}
    report["ended_at"] = utc_now()
    report["load_average_after"] = load_average()
    report["verdicts"] = {
        part: (report[part].get("verdict") or {}).get("met") for part in options.parts if part in report
    }
    return report


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def _needs(options: Options, peer: str) -> bool:
    if peer == "wrk":
        return "throughput" in options.parts or "latency" in options.parts
    if peer == "k6":
        return "throughput" in options.parts or "density" in options.parts
    return "throughput" in options.parts


# -- the report -------------------------------------------------------------------------------


def _n(value: Any, spec: str = ",.0f", unit: str = "") -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:{spec}}{unit}"


def summary(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"mcpgate benchmark suite, {report['started_at']}",
        f"machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('os')}, "
        f"Python {m.get('python')}, {m.get('nginx')}; {report['pinning']['describe']}",
        f"load average (1, 5, 15 min) before: {_loads(report.get('load_average_before'))}, "
        f"after: {_loads(report.get('load_average_after'))}",
        "",
    ]
    t = report.get("throughput")
    if t and "runs" in t:
        lines += [
            "| generator (one core, 50 users, same MCP flow) | requests/s | requests per CPU-second "
            "| peak RSS | failed | stub's CPU | other processes |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        labels = {
            "mcpgate": "mcpgate (checks on)",
            "k6": "k6 1.1.0 (same flow and checks)",
            "locust": "Locust FastHttpUser (same flow and checks)",
            "wrk": "wrk (the flow's five requests in turn, no checks, no sessions)",
        }
        for name in ("mcpgate", "k6", "locust", "wrk"):
            r = t["runs"][name]
            lines.append(
                f"| {labels[name]} | {_n(r['requests_per_s'])} | {_n(r['requests_per_cpu_s'])} | "
                f"{_n(r['peak_rss_mb'], '.0f', ' MB')} | {r['failed']} | "
                f"{_n(r.get('target_cpu_percent'), '.0f', '%')} | "
                f"{_n(r.get('other_processes_cpu_percent'), '.0f', '%')} |"
            )
        ratios, per_cpu = t["ratios"], t["ratios_per_cpu_second"]
        lines += [
            "",
            f"mcpgate / k6 {_n(ratios['mcpgate/k6'], '.2f', 'x')}, "
            f"/ Locust {_n(ratios['mcpgate/locust'], '.2f', 'x')}, "
            f"/ wrk {_n(ratios['mcpgate/wrk'], '.2f', 'x')} (the stub's CPU bounds wrk here); per CPU-second: "
            f"/ k6 {_n(per_cpu['mcpgate/k6'], '.2f', 'x')}, / Locust {_n(per_cpu['mcpgate/locust'], '.2f', 'x')}",
        ]
    rows: list[tuple[str, str, Any]] = []
    lat = report.get("latency")
    if lat and "overhead_ms" in lat:
        over = lat["overhead_ms"]
        rows.append(
            (
                f"client overhead at {lat['mcpgate']['rate_iterations_per_s']:,.0f} iterations/s (half the maximum): "
                "a 5 ms tool less wrk's view of it beside the run; the whole round trip of instant answers "
                "(an upper bound, server included)",
                f"p50 {_signed(over['estimate_p50'])}, p99 {_signed(over['estimate_p99'])}; "
                f"bound p50 {_n(over['upper_bound_p50'], '.2f', ' ms')}, "
                f"p99 {_n(over['upper_bound_p99'], '.2f', ' ms')}",
                lat["verdict"]["met"],
            )
        )
    st = report.get("stall")
    if st and "open" in st:
        rows.append(
            (
                f"a {STALL_FOR_S:g} s server stall: http_req_duration p99, open model / closed model",
                f"{_n(st['open']['http_req_duration_ms'].get('p(99)'), ',.0f', ' ms')} / "
                f"{_n(st['closed']['http_req_duration_ms'].get('p(99)'), ',.0f', ' ms')}",
                st["verdict"]["met"],
            )
        )
    su = report.get("startup")
    if su and "median_s" in su:
        rows.append(("CLI to first request (median of 5)", _n(su["median_s"], ".2f", " s"), su["verdict"]["met"]))
    sc = report.get("scaling")
    if sc and "scaling" in sc:
        label = "two workers / one" + (" (projected from CPU time)" if sc["verdict"]["projected"] else "")
        rows.append((label, _n(sc["scaling"], ".2f", "x"), sc["verdict"]["met"]))
    de = report.get("density")
    if de and "verdict" in de:
        top = de.get(f"mcpgate_{TARGET_DENSITY_VUS}")
        k6_top = de.get(f"k6_{TARGET_DENSITY_VUS}") or {}
        text = "not run (--quick)"
        if top is not None:
            text = (
                f"mcpgate {_n(top['peak_mb'], ',.0f', ' MB')} ({_n(top['mb_per_vu'], '.3f', ' MB')}/VU), "
                f"k6 {_n(k6_top.get('peak_mb'), ',.0f', ' MB')} "
                f"(x{_n(de.get(f'memory_ratio_k6/mcpgate_{TARGET_DENSITY_VUS}'), '.1f')})"
            )
        rows.append(
            (f"{TARGET_DENSITY_VUS:,} VUs, 0.5-2 s think time: peak RSS of the whole tree", text, de["verdict"]["met"])
        )
    st_ = report.get("streams")
    if st_ and "verdict" in st_:
        o, held = st_["options"], st_["streams"]
        rows.append(
            (
                f"{o['sessions']:,} sessions holding their {_stream_kind(o['transport'])} for {o['hold_s']:g} s "
                "(SDK example server): at once / through the hold / closed / stalled; steps not ok",
                f"{held['max_open']:,} / {held['held_through_hold']:,} / {held['closed']} / {held['stalled']}; "
                f"{_n(st_['steps']['error_rate'], '.2%')}",
                st_["verdict"]["met"],
            )
        )
        mc, srv = st_["mcpgate"], st_["server"]
        rows.append(
            (
                "held streams: mcpgate's peak RSS (tree), per session (each further one, in the ramp); "
                "its fds at the peak / soft limit; the server's peak RSS, per session, CPU; other processes' CPU",
                f"{_n(mc['peak_rss_mb'], '.0f', ' MB')}, {_n(mc['kib_per_session_marginal'], '.1f', ' KiB')}; "
                f"{_n(mc['fds_peak'])} / {_n(mc['fd_soft_limit'])} fds; "
                f"server {_n(srv['peak_rss_mb'], '.0f', ' MB')}, {_n(srv['kib_per_session_marginal'], '.1f', ' KiB')}"
                f", CPU {_n(srv['cpu_percent'], '.0f', '%')}; "
                f"{_n(st_['contention']['other_processes_cpu_percent'], '.0f', '%')}",
                None,
            )
        )
    me = report.get("memory")
    if me and "peak_rss_mb" in me:
        rows.append(
            (
                f"memory over {_n(me['requests'])} requests",
                f"{_n(me['rss_at_checkpoint_mb'], '.1f', ' MB')} at {me['checkpoint_requests']:,}, "
                f"{_n(me['rss_at_end_mb'], '.1f', ' MB')} at the end (x{_n(me['ratio'], '.3f')}), "
                f"peak {_n(me['peak_rss_mb'], '.1f', ' MB')}",
                me["verdict"]["met"],
            )
        )
    if de and "verdict" in de:
        lines += ["", *density_table(de)]
    if rows:
        lines += ["", "| figure | measured | target met |", "| --- | --- | --- |"]
        lines += [f"| {a} | {b} | {'yes' if c else ('-' if c is None else 'NO')} |" for a, b, c in rows]
    return "\n".join(lines)


def _loads(values: Any) -> str:
    return " ".join(f"{v:.2f}" for v in values) if isinstance(values, list) else "n/a"


def _stream_kind(transport: str) -> str:
    return "legacy SSE stream" if transport == "sse" else "GET stream"


def density_table(de: dict[str, Any]) -> list[str]:
    """mcpgate and k6 side by side at each VU count: memory, and the work done for it."""
    lines = [
        f"| generator, VUs (0.5-2 s think time, one core, {de['seconds']:g} s) | peak RSS (tree) | MB per VU "
        "| k6 / mcpgate | requests | requests/s "
        f"| iterations per VU-second (at most {de['iterations_per_vu_s_bound']}) | failed | its CPU "
        "| other processes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for vus in de["sizes"]:
        for name in ("mcpgate", "k6"):
            r = de.get(f"{name}_{vus}")
            if r is None:
                continue
            memory_ratio = de.get(f"memory_ratio_k6/mcpgate_{vus}") if name == "k6" else None
            note = " (memory cap hit)" if r.get("memory_capped") else (" (deadline hit)" if r.get("timed_out") else "")
            lines.append(
                f"| {name}, {vus:,}{note} | {_n(r['peak_mb'], ',.0f', ' MB')} | {_n(r['mb_per_vu'], '.3f')} | "
                f"{_n(memory_ratio, '.1f', 'x') if name == 'k6' else ''} | {_n(r['requests'])} | "
                f"{_n(r['requests_per_s'])} | {_n(r['iterations_per_vu_s'], '.2f')} | {r['failed']:,} | "
                f"{_n(r.get('cpu_percent'), '.0f', '%')} | {_n(r.get('other_processes_cpu_percent'), '.0f', '%')} |"
            )
    return lines


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    p.add_argument("--seconds", type=float, default=15.0, help="length of each throughput run (default 15)")
    p.add_argument("--vus", type=int, default=50, help="concurrent users in the throughput runs (default 50)")
    p.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    p.add_argument(
        "--quick",
        action="store_true",
        help="shorter: no 10,000-VU runs, a 60 s hold of the streams, a 200k-request soak",
    )
    p.add_argument("--sessions", type=int, help=f"streams: sessions held at once (default {StreamsOptions.sessions:,})")
    p.add_argument("--hold", type=float, help="streams: seconds every stream is held (default 180; --quick: 60)")
    p.add_argument(
        "--streams-transport",
        choices=("streamable-http", "sse"),
        default="streamable-http",
        help="streams: the GET stream of stateful Streamable HTTP (default), or legacy HTTP+SSE",
    )
    p.add_argument("--max-seconds", type=float, default=2400.0, help="a hard limit for the whole suite")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    a = p.parse_args(argv)
    if not 1 <= a.seconds <= 600 or not 1 <= a.vus <= 10_000:
        p.error("--seconds must be 1..600 and --vus 1..10000")
    if a.sessions is not None and not 1 <= a.sessions <= 20_000:
        p.error("--sessions must be 1..20000")
    if a.hold is not None and not 1 <= a.hold <= 3600:
        p.error("--hold must be 1..3600 seconds")
    held = QUICK_STREAMS if a.quick else StreamsOptions()
    held = replace(
        held,
        sessions=a.sessions or held.sessions,
        hold_s=a.hold or held.hold_s,
        transport=a.streams_transport,
    )
    options = Options(
        seconds=a.seconds, vus=a.vus, quick=a.quick, max_seconds=a.max_seconds, out_dir=a.out_dir, streams=held
    )
    if a.only:
        options = replace(options, parts=tuple(part for part in PARTS if part in a.only))
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds: the stub is stopped in a finally
    try:
        report = run_suite(options)
    except RuntimeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y-%m-%d-%H%M%S", time.gmtime())
    path = options.out_dir / f"suite-{stamp}.json"
    write_json(path, report)
    text = summary(report)
    path.with_suffix(".txt").write_text(text + "\n")
    print(text)
    print(f"\nwritten: {path} and {path.with_suffix('.txt')}")
    return 0 if all(v is not False for v in report["verdicts"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
