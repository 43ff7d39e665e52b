"""Shared helpers for the benchmarks: the stub target, processes by PID, CPU pinning, RSS sampling.

Everything here talks only to 127.0.0.1, bounds every wait in time, and stops only the processes it
started, by their PIDs (a process tree is walked through /proc, never matched by name).

- ``start_stub()``: nginx + njs (``bench/stub/``) as a fast stub MCP server, one worker, optionally
  pinned to a core with ``worker_cpu_affinity``; ``Stub.stop()`` ends it by PID.
- ``spawn()``/``stop_process()``: a command started under ``taskset`` (or ``sched_setaffinity``),
  stopped with SIGTERM, then SIGKILL for it and whatever it left behind.
- ``Sampler``: VmRSS/VmHWM (``/proc/PID/status``) and CPU time (``/proc/PID/stat``) of a process and
  its descendants, every second, in a thread, bounded in samples.
- ``run_mcpgate()``: ``mcpgate run -c CONFIG --no-progress --out FILE`` pinned to a core, sampled
  from start to exit, killed at a hard deadline: the code path every benchmark (and the smoke test)
  uses to measure mcpgate.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
STUB_DIR = BENCH / "stub"
RESULTS_DIR = BENCH / "results"

LOOPBACK = "127.0.0.1"
NGINX_ENV = "MCPGATE_NGINX"  # path of the nginx binary, when it is not on PATH or in /usr/sbin
NJS_ENV = "MCPGATE_NJS_MODULE"  # path of ngx_http_js_module.so
NJS_CANDIDATES = (
    "/usr/lib/nginx/modules/ngx_http_js_module.so",  # Debian, Ubuntu (libnginx-mod-http-js)
    "/usr/share/nginx/modules/ngx_http_js_module.so",
    "/usr/lib64/nginx/modules/ngx_http_js_module.so",
    "/etc/nginx/modules/ngx_http_js_module.so",  # nginx.org packages (nginx-module-njs)
)
DEBIAN_PACKAGES = ("nginx-light", "libnginx-mod-http-js")


# -- small things ------------------------------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> float:
    """An ISO 8601 timestamp (``…Z`` or with an offset) as seconds since the epoch."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


# -- CPU pinning -------------------------------------------------------------------------------


def usable_cores() -> list[int]:
    """The cores this process may run on (its affinity mask), sorted."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Cores:
    """Where the target and the generator run: separate cores when there are at least two."""

    target: int | None
    generator: int | None

    @property
    def pinned(self) -> bool:
        return self.target is not None and self.generator is not None

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned (fewer than 2 usable cores)"
        return f"target on core {self.target}, generator on core {self.generator}"


def plan_cores() -> Cores:
    cores = usable_cores()
    if len(cores) < 2:
        return Cores(None, None)
    return Cores(cores[0], cores[1])


def pin_prefix(core: int | None) -> list[str]:
    """``taskset -c CORE`` when pinning is asked for and taskset exists, else nothing."""
    if core is None:
        return []
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core)] if taskset else []


# -- processes by PID --------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (every thread's list)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(p) for p in f.read().split())
    return found


def descendants(pid: int, limit: int = 1000) -> list[int]:
    """Every process below ``pid`` (breadth first, at most ``limit``)."""
    out: list[int] = []
    queue = children(pid)
    while queue and len(out) < limit:
        child = queue.pop(0)
        out.append(child)
        queue.extend(children(child))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive: it only waits to be reaped.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def spawn(
    cmd: Sequence[str],
    *,
    core: int | None = None,
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd``, pinned to ``core`` (taskset, or sched_setaffinity right after the start)."""
    prefix = pin_prefix(core)
    proc = subprocess.Popen(
        [*prefix, *cmd],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    if core is not None and not prefix:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(proc.pid, {core})
    return proc


def stop_process(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, grace: float = 5.0) -> int | None:
    """Stop a process we started, by PID: ``sig``, up to ``grace`` seconds, then SIGKILL.

    Descendants seen before the signal that outlive it are killed by their PIDs too, so nothing we
    started is left running. Returns the exit code (None if it could not be reaped).
    """
    if proc.poll() is not None:
        return proc.returncode
    below = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    for pid in below:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return proc.returncode


# -- /proc: memory and CPU ---------------------------------------------------------------------


def parse_status_kb(text: str, name: str) -> int | None:
    """A ``kB`` field of /proc/PID/status (``VmRSS:\\t  51234 kB``) in KiB, or None if absent."""
    prefix = name + ":"
    for line in text.splitlines():
        if line.startswith(prefix):
            parts = line[len(prefix) :].split()
            if parts and parts[0].isdigit():
                return int(parts[0])
    return None


def read_status_kb(pid: int, *names: str) -> dict[str, int | None]:
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return dict.fromkeys(names)
    return {name: parse_status_kb(text, name) for name in names}


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_stat_cpu_seconds(text: str) -> float:
    """User + system CPU seconds from a /proc/PID/stat line (fields 14 and 15; the name may hold spaces)."""
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def read_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return parse_stat_cpu_seconds(f.read())
    except (OSError, IndexError, ValueError):
        return None


def read_machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user and nice]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle) / _CLOCK_TICKS, total / _CLOCK_TICKS


def count_fds(pid: int) -> int | None:
    """How many file descriptors ``pid`` has open (sockets included), or None when it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def parse_nofile_limit(text: str) -> tuple[int | None, int | None]:
    """(soft, hard) of the ``Max open files`` line of /proc/PID/limits; None stands for unlimited."""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft, hard = line[len("Max open files") :].split()[:2]
            return (None if soft == "unlimited" else int(soft)), (None if hard == "unlimited" else int(hard))
    raise ValueError("no 'Max open files' line")


def read_nofile_limit(pid: int) -> tuple[int | None, int | None] | None:
    """The RLIMIT_NOFILE a running process has now (it may have raised its own), or None when gone."""
    try:
        with open(f"/proc/{pid}/limits") as f:
            return parse_nofile_limit(f.read())
    except (OSError, ValueError):
        return None


def raise_nofile(want: int) -> dict[str, int | None]:
    """Raise this process's RLIMIT_NOFILE soft limit towards ``want`` (never above the hard limit).

    The processes the benchmarks start inherit it: a target and a generator holding thousands of
    sockets each must not meet a soft limit of 1,024 that the hard limit would have allowed.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = want if hard == resource.RLIM_INFINITY else min(want, hard)
    raised = soft
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            raised = ceiling

    def shown(value: int) -> int | None:
        return None if value == resource.RLIM_INFINITY else value

    return {"wanted": want, "soft_before": shown(soft), "soft": shown(raised), "hard": shown(hard)}


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


@dataclass(slots=True)
class Sample:
    wall: float  # time.time()
    elapsed: float  # seconds since the sampler started
    rss_kb: int  # VmRSS of the process
    hwm_kb: int  # VmHWM: its peak RSS so far
    tree_rss_kb: int  # VmRSS of the process and all its descendants
    cpu_s: float  # CPU seconds of the process (user + system)
    processes: int  # 1 + descendants
    fds: int | None = None  # open file descriptors of the process and its descendants (when asked for)
    fd_soft_limit: int | None = None  # the process's RLIMIT_NOFILE soft limit, as it runs (when asked for)


class Sampler:
    """Samples a process (and its descendants) every ``interval`` seconds in a thread.

    Bounded: at most ``max_samples`` samples; it stops by itself when the process is gone. With
    ``fds``, each sample also counts the tree's open file descriptors (a listing of /proc/PID/fd
    per process: cheap, but not free at thousands of sockets, so only where they are the question).
    """

    def __init__(self, pid: int, *, interval: float = 1.0, max_samples: int = 100_000, fds: bool = False) -> None:
        self.pid = pid
        self.interval = interval
        self.max_samples = max_samples
        self.fds = fds
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"rss-{pid}", daemon=True)
        self._t0 = time.monotonic()

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 5)

    def sample(self) -> Sample | None:
        own = read_status_kb(self.pid, "VmRSS", "VmHWM")
        rss = own["VmRSS"]
        if rss is None:  # gone (or a zombie: no memory any more)
            return None
        below = descendants(self.pid)
        tree = rss + sum(read_status_kb(p, "VmRSS")["VmRSS"] or 0 for p in below)
        fds: int | None = None
        soft: int | None = None
        if self.fds:
            fds = sum(count_fds(p) or 0 for p in [self.pid, *below])
            soft = (read_nofile_limit(self.pid) or (None, None))[0]
        return Sample(
            wall=time.time(),
            elapsed=round(time.monotonic() - self._t0, 3),
            rss_kb=rss,
            hwm_kb=own["VmHWM"] or rss,
            tree_rss_kb=tree,
            cpu_s=read_cpu_seconds(self.pid) or 0.0,
            processes=1 + len(below),
            fds=fds,
            fd_soft_limit=soft,
        )

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set() and len(self.samples) < self.max_samples:
            sample = self.sample()
            if sample is None:
                return
            self.samples.append(sample)
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


# -- the stub target: nginx + njs --------------------------------------------------------------


def find_nginx() -> str | None:
    explicit = os.environ.get(NGINX_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def find_njs_module() -> str | None:
    explicit = os.environ.get(NJS_ENV)
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    return next((c for c in NJS_CANDIDATES if os.path.isfile(c)), None)


def stub_missing() -> str | None:
    """Why the stub cannot run here (with the packages to install), or None when it can."""
    hint = f"apt-get install {' '.join(DEBIAN_PACKAGES)}, or run bench/setup.sh"
    if find_nginx() is None:
        return f"nginx is not installed ({hint}; or set {NGINX_ENV})"
    if find_njs_module() is None:
        return f"nginx's njs module (ngx_http_js_module.so) is not installed ({hint}; or set {NJS_ENV})"
    return None


def nginx_version() -> str | None:
    nginx = find_nginx()
    if nginx is None:
        return None
    try:
        done = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ") or None


def affinity_mask(core: int) -> str:
    """nginx's worker_cpu_affinity bit mask for one core: core 0 -> ``1``, core 2 -> ``100``."""
    if core < 0:
        raise ValueError(f"core must be >= 0, got {core}")
    return "1" + "0" * core


STUB_MAX_NOFILE = 65_536


def stub_limits(hard: int | None = None) -> tuple[int, int]:
    """(worker_rlimit_nofile, worker_connections) for the stub's worker, from the hard RLIMIT_NOFILE.

    The worker holds one socket per generator connection: a 10,000-VU run keeps 10,000 open, so it
    takes as many as the hard limit allows (an unprivileged nginx can raise its soft limit that far).
    """
    if hard is None:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard = STUB_MAX_NOFILE if limit == resource.RLIM_INFINITY else limit
    nofile = max(1024, min(hard, STUB_MAX_NOFILE))
    return nofile, max(512, nofile - 256)  # the rest: the listener, logs, the script, the temp files


def render_stub_config(
    directory: Path, port: int, core: int | None, module: str, limits: tuple[int, int] | None = None
) -> str:
    template = (STUB_DIR / "nginx.conf.in").read_text()
    affinity = f"worker_cpu_affinity {affinity_mask(core)};" if core is not None else ""
    nofile, connections = limits or stub_limits()
    values = {
        "MODULE": module,
        "DIR": str(directory),
        "SCRIPT": str(STUB_DIR / "mcp.js"),
        "PORT": str(port),
        "AFFINITY": affinity,
        "NOFILE": str(nofile),
        "CONNECTIONS": str(connections),
    }
    for key, value in values.items():
        template = template.replace(f"@@{key}@@", value)
    unknown = [line for line in template.splitlines() if "@@" in line and not line.lstrip().startswith("#")]
    if unknown:
        raise ValueError(f"nginx.conf.in has a placeholder render_stub_config does not know: {unknown[0].strip()}")
    return template


@dataclass
class Stub:
    port: int
    core: int | None
    proc: subprocess.Popen[bytes]
    directory: Path
    workers: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/mcp"

    def delay_url(self, ms: int) -> str:
        """The endpoint whose tools/call answers after a fixed ``ms`` milliseconds."""
        return f"http://{LOOPBACK}:{self.port}/mcp-delay-{int(ms)}ms"

    def error_log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "error.log").read_text(errors="replace")
        return ""

    def stop(self) -> None:
        # SIGQUIT would wait for keep-alive connections; SIGTERM is nginx's fast shutdown.
        stop_process(self.proc, sig=signal.SIGTERM, grace=5.0)
        for pid in self.workers:  # in case the master died before its worker
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)


INIT_BODY = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{},"clientInfo":{"name":"mcpgate-bench","version":"0"}}}'
)


def stub_answers(port: int, timeout: float = 1.0) -> bool:
    """True when POST /mcp initialize gets 200 with a session id (one bounded request)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("POST", "/mcp", INIT_BODY, {"Content-Type": "application/json", "Accept": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status == 200 and bool(response.getheader("Mcp-Session-Id"))
    except OSError:
        return False
    finally:
        conn.close()


def start_stub(port: int | None = None, *, core: int | None = None, ready_timeout: float = 10.0) -> Stub:
    """Start the stub MCP server on 127.0.0.1 and wait until it answers ``initialize``."""
    reason = stub_missing()
    if reason is not None:
        raise RuntimeError(reason)
    nginx = find_nginx()
    module = find_njs_module()
    assert nginx is not None
    assert module is not None
    port = port or free_port()
    directory = Path(tempfile.mkdtemp(prefix="mcpgate-stub-"))
    # nginx's worker drops to an unprivileged user when started as root: it must read the directory.
    directory.chmod(0o755)
    conf = directory / "nginx.conf"
    conf.write_text(render_stub_config(directory, port, core, module))
    with (directory / "nginx.out").open("wb") as out:
        # -e: the start-up error log, before the config's own error_log takes over.
        proc = subprocess.Popen(
            [nginx, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stub = Stub(port, core, proc, directory)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = stub.error_log() + (directory / "nginx.out").read_text(errors="replace")
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(f"nginx exited with {proc.returncode}: {log[-2000:]}")
        if stub_answers(port, timeout=0.5):
            stub.workers = children(proc.pid)
            return stub
        time.sleep(0.05)
    log = stub.error_log()
    stub.stop()
    raise RuntimeError(f"the stub on port {port} did not answer within {ready_timeout}s: {log[-2000:]}")


@contextlib.contextmanager
def running_stub(port: int | None = None, *, core: int | None = None) -> Iterator[Stub]:
    stub = start_stub(port, core=core)
    try:
        yield stub
    finally:
        stub.stop()


# -- mcpgate under measurement -----------------------------------------------------------------


def mcpgate_command() -> list[str]:
    """This interpreter running mcpgate: the project's venv when the benchmarks run from it."""
    return [sys.executable, "-m", "mcpgate"]


@dataclass
class GeneratorRun:
    command: list[str]
    exit_code: int | None  # None: killed at the deadline and not reaped
    timed_out: bool
    wall_s: float
    samples: list[Sample]
    results: dict[str, Any] | None  # the --out file, parsed
    stdout_tail: str
    stderr_tail: str


def run_mcpgate(
    config: Path,
    out: Path,
    *,
    core: int | None,
    deadline_s: float,
    extra_args: Sequence[str] = (),
    sample_interval: float = 1.0,
    workdir: Path | None = None,
    progress: bool = False,
    fds: bool = False,
) -> GeneratorRun:
    """Run ``mcpgate run -c CONFIG --no-progress --out OUT`` pinned to ``core``, sampling it until it exits.

    At ``deadline_s`` it gets SIGTERM (mcpgate then writes its results and exits 105 within a few
    seconds), then SIGKILL. Its stdout and stderr go to files beside ``out``; their tails are kept.
    ``progress`` keeps its progress lines (a plain line every 10 s on a pipe) in the stderr file;
    ``fds`` has the sampler count its open file descriptors too.
    """
    workdir = workdir or out.parent
    quiet = [] if progress else ["--no-progress"]
    command = [*mcpgate_command(), "run", "-c", str(config), *quiet, "--out", str(out), *extra_args]
    stdout_path = workdir / (out.stem + ".stdout.log")
    stderr_path = workdir / (out.stem + ".stderr.log")
    timed_out = False
    started = time.monotonic()
    with stdout_path.open("wb") as so, stderr_path.open("wb") as se:
        proc = spawn(command, core=core, stdout=so, stderr=se, cwd=ROOT)
        try:
            limit = int(deadline_s / sample_interval) + 100
            with Sampler(proc.pid, interval=sample_interval, max_samples=limit, fds=fds) as s:
                try:
                    proc.wait(deadline_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    stop_process(proc, sig=signal.SIGTERM, grace=15.0)
        finally:
            stop_process(proc, sig=signal.SIGKILL, grace=5.0)
    wall = time.monotonic() - started
    results: dict[str, Any] | None = None
    with contextlib.suppress(OSError, ValueError):
        results = json.loads(out.read_text())
    return GeneratorRun(
        command=[*pin_prefix(core), *command],
        exit_code=proc.returncode,
        timed_out=timed_out,
        wall_s=round(wall, 3),
        samples=s.samples,
        results=results,
        stdout_tail=_tail(stdout_path),
        stderr_tail=_tail(stderr_path),
    )


def _tail(path: Path, size: int = 4000) -> str:
    with contextlib.suppress(OSError):
        data = path.read_bytes()
        return data[-size:].decode("utf-8", "replace")
    return ""


def results_counter(results: dict[str, Any] | None, name: str) -> float:
    """A counter's total from an mcpgate results file (0 when absent)."""
    if not results:
        return 0.0
    metric = (results.get("metrics") or {}).get(name) or {}
    values = metric.get("values") or {}
    return float(values.get("count") or 0.0)


def results_trend(results: dict[str, Any] | None, name: str, stat: str) -> float | None:
    if not results:
        return None
    value = (((results.get("metrics") or {}).get(name) or {}).get("values") or {}).get(stat)
    return float(value) if isinstance(value, int | float) else None


def cumulative_requests(results: dict[str, Any] | None) -> list[tuple[float, int]]:
    """(wall-clock time, HTTP requests sent so far) at the end of each timeline interval.

    The timeline's ``t`` counts from the engine's start; ``run.started_at`` is a few milliseconds
    earlier (the preflight session), which is far below the sampling interval.
    """
    if not results:
        return []
    started = (results.get("run") or {}).get("started_at")
    points = (results.get("timeseries") or {}).get("points") or []
    if not started or not points:
        return []
    t0 = parse_utc(started)
    total = 0
    curve = [(t0, 0)]
    for point in points:
        total += int(point.get("requests") or 0)
        curve.append((t0 + float(point["t"]), total))
    return curve


def requests_at(curve: Sequence[tuple[float, int]], wall: float) -> float:
    """Requests sent by ``wall``, interpolated linearly within the timeline interval."""
    if not curve or wall <= curve[0][0]:
        return 0.0
    for (t_a, n_a), (t_b, n_b) in itertools.pairwise(curve):
        if wall <= t_b:
            return n_a + (n_b - n_a) * ((wall - t_a) / (t_b - t_a) if t_b > t_a else 1.0)
    return float(curve[-1][1])


# -- the machine -------------------------------------------------------------------------------


def _first_line_with(path: str, prefix: str) -> str | None:
    with contextlib.suppress(OSError), open(path) as f:
        for line in f:
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return None


def _os_name() -> str | None:
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return None


def mcpgate_version() -> str | None:
    try:
        done = subprocess.run(
            [*mcpgate_command(), "--version"], capture_output=True, text=True, timeout=30, check=False, cwd=ROOT
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().removeprefix("mcpgate ") or None


def machine_info() -> dict[str, Any]:
    mem_kb = _first_line_with("/proc/meminfo", "MemTotal")
    return {
        "cpu": _first_line_with("/proc/cpuinfo", "model name") or platform.processor() or None,
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_gib": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": nginx_version(),
        "mcpgate": mcpgate_version(),
    }


def as_dict(obj: Any) -> Any:
    """Dataclasses (and lists of them) as plain JSON-ready values."""
    if isinstance(obj, list):
        return [as_dict(o) for o in obj]
    return asdict(obj)
