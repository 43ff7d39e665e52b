"""The coordinator of a multi-core run: starts the workers, merges their reports, passes on stops.

Each worker (worker.py) runs one shard of every scenario (shard.py) in its own
process, with its own event loop and connection pool, so a run uses every core
the way one process uses one. The coordinator keeps the run's only Metrics:
the workers' reports are merged into it exactly (delta.py), the timeline is
ticked once every worker has reported up to an interval's end, and the engine's
abort checks and progress lines read it as they would in a single process.

A breakpoint search also gets each report into the metrics of the step it
falls in (steps.py), and judges a step once every running worker has
reported to its end.

A worker that crashes or is killed costs the run that worker's last report at
most; the run goes on with the others, and the loss is counted as an
internal error with a sample that says which worker and how.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import pickle
import socket
import sys
import time
from dataclasses import dataclass, field

from mcpgate.engine import ipc
from mcpgate.engine.control import Control
from mcpgate.engine.delta import absorb
from mcpgate.engine.driver import Host
from mcpgate.engine.shard import Shard
from mcpgate.engine.steps import FleetSteps
from mcpgate.engine.worker import WorkerSpec
from mcpgate.metrics.recorder import STREAMS_OPEN
from mcpgate.metrics.registry import Metrics
from mcpgate.plan.build import Plan
from mcpgate.protocol.http import connection_limit
from mcpgate.protocol.records import Target, ToolInfo

# Not ``-m mcpgate.engine.worker``: the spec must unpickle as that module's classes, not __main__'s.
WORKER_MAIN = "import sys; from mcpgate.engine.worker import main; sys.exit(main(sys.argv[1:]))"
START_TIMEOUT = 60.0  # seconds for a worker to start and say it is ready
EXIT_TIMEOUT = 5.0  # seconds for a worker to exit after its last word, before it is killed


class FleetError(Exception):
    """The workers could not be started."""


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reported: int = 0  # the last report number merged
    finished: bool = False  # "done" merged, or gone
    active: int = 0
    allocated: int = 0
    lost: str | None = None  # why it ended without "done"
    streams: dict[int, int] = field(default_factory=dict)  # report number -> streams it held open then


class Fleet:
    """The load over ``count`` worker processes, each one shard of every scenario (of ``within``)."""

    def __init__(
        self,
        plan: Plan,
        target: Target,
        tools: dict[str, ToolInfo],
        *,
        count: int,
        interval: float,
        within: Shard | None = None,
    ) -> None:
        self.plan = plan
        self.target = target
        self.tools = tools
        self.count = count
        self.within = within  # the --shard part the workers split among themselves; None: the whole plan
        self.interval = interval
        # Reports come at a whole fraction of the interval, at most a second apart: fresh enough for
        # abort checks and progress, and each one inside exactly one timeline interval.
        self.per_interval = max(1, math.ceil(interval - 1e-9))
        self.period = interval / self.per_interval
        self.workers: list[_Worker] = []
        self._control: Control | None = None
        self._steps: FleetSteps | None = None
        self._streams_through = 0  # report instants whose mcp_streams_open is summed
        self._streams_seen = False

    async def prepare(self, control: Control) -> None:
        """Start every worker and wait until each is ready (or the run is stopped meanwhile)."""
        self._control = control
        control.on_stop = self._forward_stop
        try:
            starting = [asyncio.create_task(self._spawn(i)) for i in range(self.count)]
            stopped = asyncio.create_task(control.stopping.wait())
            while not stopped.done() and not all(t.done() for t in starting):
                await asyncio.wait({*starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            for task in starting:
                if not task.done():
                    task.cancel()
            results = await asyncio.gather(*starting, return_exceptions=True)
        except BaseException:
            await self.close()
            raise
        self.workers = [w for w in results if isinstance(w, _Worker)]
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None and not control.stopping.is_set():
            await self.close()
            raise FleetError(f"could not start the worker processes: {failure}")

    async def _spawn(self, index: int) -> _Worker:
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WORKER_MAIN,
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        worker = _Worker(index, process, reader, writer)
        shard = Shard(index, self.count, parent=self.within)
        connections = connection_limit(sum(shard.vus(s.max_vus) for s in self.plan.scenarios))
        spec = WorkerSpec(self.plan, self.target, self.tools, shard, self.period, connections)
        ipc.write_frame(writer, pickle.dumps(spec))
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await writer.drain()
                message = await ipc.read_message(reader)
        except BaseException:
            await _end(worker)
            raise
        if message.get("t") != "ready":
            await _end(worker)
            raise FleetError(f"worker {index}: {message.get('error', 'not ready')}")
        return worker

    def halt(self) -> None:
        """Nothing to cut here: the workers hear of the stop (``_forward_stop``) and end on their own."""

    def finish(self, now: float) -> None:
        """Nothing left: the last step was judged as the last reports came in."""

    def _forward_stop(self, reason: str, grace: float) -> None:
        for worker in self.workers:
            if not worker.finished:
                with contextlib.suppress(Exception):
                    ipc.write_message(worker.writer, {"t": "stop", "reason": reason, "grace": grace})

    async def drive(self, host: Host, started: float) -> None:
        """Run the workers from ``started`` (loop time) to their ends, merging as they report."""
        control = host.control
        if not self.workers:
            return
        loop = asyncio.get_running_loop()
        if host.search is not None:
            self._steps = FleetSteps(host.search, host.metrics, self.period)
        start = time.monotonic() + (started - loop.time())
        for worker in self.workers:
            ipc.write_message(worker.writer, {"t": "go", "start": start})
        if control.stopping.is_set():
            self._forward_stop(control.stop_reason, control.grace_cap)
        try:
            async with asyncio.TaskGroup() as group:
                for worker in self.workers:
                    group.create_task(self._follow(host, worker))
            if self._steps is not None:
                self._steps.finish()
        finally:
            await self.close()

    async def _follow(self, host: Host, worker: _Worker) -> None:
        """Merge one worker's reports until it is done (or gone)."""
        while True:
            try:
                message = await ipc.read_message(worker.reader)
            except ipc.ChannelClosed:
                code = await _exit_code(worker)
                self._lost(host, worker, f"worker process {worker.index} exited (code {code}) before the run ended")
                return
            kind = message.get("t")
            if kind in ("report", "done"):
                absorb(host.metrics, host.errors, message["delta"])
                if self._steps is not None:  # "done" holds what came after the worker's last report
                    report = int(message["n"]) if kind == "report" else worker.reported + 1
                    self._steps.absorb(report, message["delta"])
                worker.active = int(message.get("active", 0))
                worker.allocated = int(message.get("allocated", 0))
                if kind == "report":
                    worker.reported = int(message["n"])
                    worker.streams[worker.reported] = int(message.get("streams", 0))
                else:
                    worker.finished = True
                    host.control.interrupted_iterations += int(message.get("interrupted", 0))
                self._sum_vus(host.control)
                self._sum_streams(host.metrics)
                self._tick(host)
                if worker.finished:
                    return
            elif kind == "crash":
                self._lost(host, worker, f"worker process {worker.index} failed: {message.get('error', '?')}")
                return

    def _lost(self, host: Host, worker: _Worker, why: str) -> None:
        worker.finished = True
        worker.lost = why
        worker.active = 0
        host.metrics.counter("internal_errors").add()
        host.errors.add("internal_error", why, "run", None)
        self._sum_vus(host.control)
        self._sum_streams(host.metrics)
        self._tick(host)

    def _sum_vus(self, control: Control) -> None:
        control.active_vus = sum(w.active for w in self.workers)
        control.allocated_vus = sum(w.allocated for w in self.workers)

    def _sum_streams(self, metrics: Metrics) -> None:
        """The run's mcp_streams_open: the workers' values at one report instant, summed, for each
        instant every running worker has reported (reports are aligned to the run's start, so the
        sum is the streams held at that moment; a worker that has ended holds none)."""
        running = [w.reported for w in self.workers if not w.finished]
        through = min(running) if running else max((w.reported for w in self.workers), default=0)
        while self._streams_through < through:
            self._streams_through += 1
            total = sum(w.streams.pop(self._streams_through, 0) for w in self.workers)
            if total or self._streams_seen:
                self._streams_seen = True
                metrics.gauge(STREAMS_OPEN).set(total)
        if not running and self._streams_seen:
            metrics.gauge(STREAMS_OPEN).set(0)  # every worker has ended, and its streams with it

    def _tick(self, host: Host) -> None:
        """Close every timeline interval that all running workers have reported to the end of."""
        running = [w.reported for w in self.workers if not w.finished]
        if not running:
            return
        if self._steps is not None:
            self._steps.advance(min(running))
        through = min(running) // self.per_interval  # whole intervals every worker has reported
        while len(host.timeline.points) < through:
            host.tick((len(host.timeline.points) + 1) * self.interval)

    async def close(self) -> None:
        """Every worker process ends: asked by closing its socket, then killed if it must be."""
        workers, self.workers = self.workers, []
        await asyncio.gather(*(_end(w) for w in workers))


async def _exit_code(worker: _Worker) -> int | None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(EXIT_TIMEOUT):
            return await worker.process.wait()
    return worker.process.returncode


async def _end(worker: _Worker) -> None:
    worker.writer.close()
    process = worker.process
    if process.returncode is None:
        try:
            async with asyncio.timeout(EXIT_TIMEOUT):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
