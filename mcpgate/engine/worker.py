"""One worker process of a multi-core run, started by the coordinator (fleet.py) with a socket FD.

It gets its spec over the socket FD, builds its own connection pool and flow,
says it is ready, starts on the coordinator's go (one moment for all workers),
runs its shard of every scenario, and reports the samples it took every
``period`` seconds, aligned to the run's start so each report falls into
exactly one timeline interval. It stops when told (or at once if the
coordinator disappears) and ignores SIGINT and SIGTERM: the coordinator
decides when a run ends, so that every sample still reaches the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import socket
import time
from dataclasses import dataclass

from mcpgate.engine import ipc
from mcpgate.engine.control import Control
from mcpgate.engine.delta import DeltaTaker
from mcpgate.engine.local import run_scenarios
from mcpgate.engine.shard import Shard
from mcpgate.metrics.recorder import STREAMS_OPEN, ErrorLog
from mcpgate.metrics.registry import GaugeSeries, Metrics
from mcpgate.plan.build import Plan
from mcpgate.protocol.http import make_http
from mcpgate.protocol.records import Target, ToolInfo
from mcpgate.support import eventloop
from mcpgate.workload.flow import Flow, resolve_tools
from mcpgate.workload.program import resolve_program


@dataclass(frozen=True)
class WorkerSpec:
    plan: Plan
    target: Target  # as the preflight negotiated it
    tools: dict[str, ToolInfo]  # the server's tools/list, from the preflight
    shard: Shard
    period: float  # seconds between reports
    connections: int  # this worker's connection limit


async def serve(sock: socket.socket) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        spec = pickle.loads(await ipc.read_frame(reader))
        assert isinstance(spec, WorkerSpec)
        await _work(spec, reader, writer)
    except ipc.ChannelClosed:
        return  # the coordinator is gone: there is no one left to report to
    except Exception as exc:  # a bug: tell the coordinator, which keeps the run's other results
        with contextlib.suppress(Exception):
            ipc.write_message(writer, {"t": "crash", "error": f"{type(exc).__name__}: {exc}"})
            await writer.drain()
    finally:
        writer.close()


async def _work(spec: WorkerSpec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    plan, config = spec.plan, spec.plan.config
    shard = spec.shard
    resolution = resolve_tools(
        config.flow.tools,
        spec.tools,
        plan.datasets,
        config.datasets,
        plan.max_vus,
        worker=shard.rows(),
    )
    steps = resolve_program(config, spec.tools, plan.datasets, plan.max_vus, worker=shard.rows())
    metrics, errors, control = Metrics(), ErrorLog(), Control()
    taker = DeltaTaker(metrics, errors, plan.redact)
    loop = asyncio.get_running_loop()
    async with make_http(spec.target.settings, limit=spec.connections) as http:
        flow = Flow(http, spec.target, resolution.mix, config.flow, steps.program)
        ipc.write_message(writer, {"t": "ready"})
        go = await ipc.read_message(reader)
        if go.get("t") != "go":
            return  # stopped before the start
        started = loop.time() + (float(go["start"]) - time.monotonic())
        work = asyncio.create_task(
            run_scenarios(plan, flow, metrics=metrics, errors=errors, control=control, started=started, shard=shard)
        )
        listener = asyncio.create_task(_listen(reader, control, work))
        reporter = asyncio.create_task(_report(writer, taker, control, started, spec.period, metrics=metrics))
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await work
        finally:
            listener.cancel()
            reporter.cancel()
            for task in (listener, reporter):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        final = {
            "t": "done",
            "interrupted": control.interrupted_iterations,
            "active": 0,
            "allocated": control.allocated_vus,
            "streams": _streams_open(metrics),
            "delta": taker.take(),
        }
        ipc.write_message(writer, final)
        await writer.drain()


async def _listen(reader: asyncio.StreamReader, control: Control, work: asyncio.Task[None]) -> None:
    """Stops from the coordinator; its disappearance is a stop with no grace."""
    while True:
        try:
            message = await ipc.read_message(reader)
        except ipc.ChannelClosed:
            control.stop("the coordinator is gone", grace=0.0)
            work.cancel()
            return
        if message.get("t") == "stop":
            grace = float(message.get("grace", 0.0))
            control.stop(str(message.get("reason", "stopped")), grace=grace)
            if grace <= 0:
                work.cancel()


def _streams_open(metrics: Metrics) -> int:
    """Streams this worker holds open now (its gauge is not in the deltas: the coordinator sums these)."""
    gauge = metrics.series.get((STREAMS_OPEN, ()))
    return int(gauge.value) if isinstance(gauge, GaugeSeries) else 0


async def _report(
    writer: asyncio.StreamWriter,
    taker: DeltaTaker,
    control: Control,
    started: float,
    period: float,
    *,
    metrics: Metrics,
) -> None:
    """Report n at started + n * period, for n = 1, 2, ... until cancelled (the final report is "done")."""
    loop = asyncio.get_running_loop()
    n = 0
    while True:
        await asyncio.sleep(max(0.0, started + (n + 1) * period - loop.time()))
        n += 1
        ipc.write_message(
            writer,
            {
                "t": "report",
                "n": n,
                "active": control.active_vus,
                "allocated": control.allocated_vus,
                "streams": _streams_open(metrics),
                "delta": taker.take(),
            },
        )
        await writer.drain()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=int(argv[0]))
    eventloop.run(serve(sock))
    return 0
