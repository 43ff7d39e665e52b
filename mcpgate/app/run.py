"""``mcpgate run``: plan -> preflight -> engine -> verdict -> results and summary.

Whatever happens after the plan is made (a server that refuses the preflight,
a threshold that aborts, a SIGTERM from a cancelled CI job), the results file
and the summary are written, and the exit code says which of those it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from typing import TextIO

from mcpgate.app.deliver import Outputs, deliver
from mcpgate.app.preflight import Preflight, preflight
from mcpgate.app.record import RunRecord, build_results
from mcpgate.app.watch import report_progress, step_lines, waiting_line
from mcpgate.engine.driver import Driver
from mcpgate.engine.fleet import Fleet
from mcpgate.engine.limits import needed, raise_nofile
from mcpgate.engine.local import LocalDriver
from mcpgate.engine.runner import Engine, default_interval
from mcpgate.engine.shard import WHOLE, Shard, choose_workers
from mcpgate.plan.breakpoint import step_interval
from mcpgate.plan.build import Plan
from mcpgate.protocol.http import connection_limit, make_http
from mcpgate.protocol.wire.pool import Pool
from mcpgate.report.progress import Progress
from mcpgate.results.schema import Results
from mcpgate.support import exitcodes
from mcpgate.verdict.baseline import DEFAULT_MAX_REGRESSION, with_baseline
from mcpgate.verdict.breakpoint import StepJudge, conclude
from mcpgate.verdict.drift import DEFAULT_MAX_DRIFT, with_drift
from mcpgate.verdict.judge import judge, shown_step
from mcpgate.verdict.steady import steady_load
from mcpgate.verdict.thresholds import AbortWatch, evaluate_all
from mcpgate.workload.flow import Flow


@dataclass(frozen=True)
class RunOptions(Outputs):
    interval: float | None = None  # timeline interval, seconds; default from the run's length
    progress: bool = True
    # The process ends with the run (the CLI): signals that come after the results are written are
    # ignored rather than allowed to kill the process on its way out.
    last_act: bool = False
    baseline: Results | None = None  # compare with this earlier run; a regression fails the run
    max_regression: float = DEFAULT_MAX_REGRESSION
    workers: int | None = 1  # generator processes; None: one per available core
    max_drift: float | None = DEFAULT_MAX_DRIFT  # steady-load drift that fails the run; None: report only
    drift_window: float | None = None  # seconds; None: 10 minutes, or a quarter of a shorter steady load
    shard: Shard | None = None  # --shard I/N: this process runs part I of N of every scenario
    start_at: float | None = None  # --start-at, unix time: the load starts at that instant


async def run_plan(plan: Plan, options: RunOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> Results:
    out = out or sys.stdout
    err = err or sys.stderr
    record = _record(plan, options, err)
    async with make_http(plan.connect.settings, limit=connection_limit(record.share)) as http:
        await _drive(record, options, http, err)
    # Signals stay handled until the results are out: a second one must not kill the process mid-write.
    results = _judged(record, options)
    deliver(results, options, out, err)
    record.signals.remove(ignore_more=options.last_act)
    return results


def _record(plan: Plan, options: RunOptions, err: TextIO) -> RunRecord:
    """The run before it starts: its timeline interval, its workers, its judges, its file-descriptor limit."""
    interval = options.interval or default_interval(plan.duration)
    notes: list[str] = []
    if plan.breakpoint is not None:
        interval, note = step_interval(plan.breakpoint, interval, given=options.interval is not None)
        notes.extend(note)
    record = RunRecord(plan, interval, options.shard, options.start_at, workers=1, notes=notes)
    record.workers = choose_workers(options.workers, record.share)
    short = raise_nofile(needed(record.share, record.workers))  # before the workers start: they inherit it
    if short is not None:
        notes.append(short)
        with contextlib.suppress(OSError):
            err.write(f"mcpgate: warning: {short}\n")
    record.abort = AbortWatch(plan.thresholds)
    if plan.breakpoint is not None:
        record.search = StepJudge(plan.breakpoint, plan.thresholds)
    return record


async def _drive(record: RunRecord, options: RunOptions, http: Pool, err: TextIO) -> None:
    """The preflight, then the load if it passed; a signal stops whichever is running."""
    checking = asyncio.create_task(preflight(http, record.plan, rows=record.part.rows()))

    def on_signal(grace: float) -> None:
        if record.engine is not None:
            record.engine.interrupt(grace)
        else:
            checking.cancel()

    record.signals.install(on_signal)
    try:
        try:
            record.pre = await checking
        except asyncio.CancelledError:
            if not record.signals.count:
                raise
            record.pre = Preflight(False, exitcodes.INTERRUPTED, "interrupted during the preflight session")
        if record.pre.ok and not record.signals.count:
            await _load(record, options, http, err)
    except BaseException:
        record.signals.remove()
        raise


async def _load(record: RunRecord, options: RunOptions, http: Pool, err: TextIO) -> None:
    """The engine's run, watched; a crash is kept with what was measured, not raised."""
    plan = record.plan
    progress = Progress(err) if options.progress else None
    if progress is not None and record.search is not None and plan.breakpoint is not None:
        record.search.on_step = step_lines(plan.breakpoint, progress)
    record.engine = engine = _engine(record, http)
    if progress is not None and options.start_at is not None:
        progress.show(waiting_line(options.start_at, options.shard))
    watcher = asyncio.create_task(report_progress(engine, plan, progress)) if progress else None
    try:
        record.outcome = await engine.run(start_at=options.start_at)
    except Exception as exc:  # a bug: keep what was measured, and say what happened
        record.crash = exc
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        if progress is not None:
            progress.done()


def _engine(record: RunRecord, http: Pool) -> Engine:
    """The engine for this run (or this shard's part of it): its VUs in this process, or over worker processes."""
    plan, pre, shard = record.plan, record.preflight, record.part
    assert pre.target is not None
    assert pre.mix is not None
    driver: Driver
    if record.workers > 1:
        within = shard if shard != WHOLE else None
        driver = Fleet(plan, pre.target, pre.offered, count=record.workers, interval=record.interval, within=within)
    else:
        driver = LocalDriver(plan, Flow(http, pre.target, pre.mix, plan.config.flow, pre.program), shard=shard)
    return Engine(
        plan, driver, record.metrics, record.errors, interval=record.interval, abort=record.abort, steps=record.search
    )


def _judged(record: RunRecord, options: RunOptions) -> Results:
    """The verdict, the results, and what a baseline and drift say of them."""
    plan, outcome, search = record.plan, record.outcome, record.search
    # Thresholds judge a load; when none ran there is nothing to judge (the status says why), and a
    # shard with no part of any scenario has no load of its own to judge (the merge judges the run).
    loaded = outcome is not None and outcome.started and record.share > 0
    verdicts = evaluate_all(plan.thresholds, record.metrics.observe) if loaded else []
    conclusion = None
    if plan.breakpoint is not None and outcome is not None and search is not None and search.steps:
        conclusion = conclude(plan.breakpoint, search.steps)
        verdicts = list(shown_step(conclusion).verdicts)  # each step was judged alone: show the one that tells
    results = build_results(record, verdicts, judge(record.state(), verdicts, conclusion))
    if options.baseline is not None and outcome is not None:
        results = with_baseline(results, options.baseline, options.max_regression)
    if outcome is not None and plan.breakpoint is None:  # a search's load climbs: drift means nothing there
        steady = steady_load(plan.config.scenarios)
        results = with_drift(results, steady, max_drift=options.max_drift, window=options.drift_window)
    return results
