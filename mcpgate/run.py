"""``mcpgate run``: plan -> preflight -> engine -> verdict -> results and summary.

Whatever happens after the plan is made (a server that refuses the preflight,
a threshold that aborts, a SIGTERM from a cancelled CI job), the results file
and the summary are written, and the exit code says which of those it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from mcpgate import __version__, exitcodes
from mcpgate.breakpoint import BreakpointPlan, Conclusion, StepResult, conclude, step_interval
from mcpgate.catalog import BUILTIN
from mcpgate.compare import DEFAULT_MAX_REGRESSION, compare
from mcpgate.drift import DEFAULT_MAX_DRIFT, steady_load, with_drift
from mcpgate.durations import format_duration
from mcpgate.engine.fleet import Fleet
from mcpgate.engine.runner import Engine, EngineOutcome, default_interval
from mcpgate.engine.shard import WHOLE, Shard, choose_workers
from mcpgate.flow import Flow
from mcpgate.limits import needed, raise_nofile
from mcpgate.metrics import Metrics
from mcpgate.plan import Plan
from mcpgate.preflight import Preflight, preflight
from mcpgate.probe import step_dict
from mcpgate.protocol import wire
from mcpgate.protocol.http import connection_limit, make_http
from mcpgate.recorder import STREAMS_OPEN, ErrorLog
from mcpgate.report.console import render_summary, step_line
from mcpgate.report.format import observed
from mcpgate.report.junit import render_junit
from mcpgate.report.markdown import render_markdown
from mcpgate.report.progress import Progress, progress_line
from mcpgate.results import (
    PHASE_ORDER,
    BaselineComparison,
    BaselineDelta,
    BreakpointResult,
    Results,
    RunInfo,
    ScenarioInfo,
    ShardInfo,
    Status,
    TargetInfo,
    breakpoint_section,
    error_classes,
    latency_table,
    metric_entries,
    series_entries,
    threshold_results,
    timeseries,
    write,
)
from mcpgate.startat import LATE_NOTE, iso
from mcpgate.thresholds import Verdict, evaluate_all
from mcpgate.timeline import Point

INTERRUPT_GRACE = 3.0  # seconds for iterations in flight after SIGINT/SIGTERM


@dataclass(frozen=True)
class RunOptions:
    out: Path | None = None
    interval: float | None = None  # timeline interval, seconds; default from the run's length
    progress: bool = True
    summary: bool = True
    # The process ends with the run (the CLI): signals that come after the results are written are
    # ignored rather than allowed to kill the process on its way out.
    last_act: bool = False
    baseline: Results | None = None  # compare with this earlier run; a regression fails the run
    max_regression: float = DEFAULT_MAX_REGRESSION
    markdown: Path | None = None  # also write the Markdown summary here
    junit: Path | None = None  # and JUnit XML here
    summary_template: Path | None = None  # a user's own Markdown template
    workers: int | None = 1  # generator processes; None: one per available core
    max_drift: float | None = DEFAULT_MAX_DRIFT  # steady-load drift that fails the run; None: report only
    drift_window: float | None = None  # seconds; None: 10 minutes, or a quarter of a shorter steady load
    shard: Shard | None = None  # --shard I/N: this process runs part I of N of every scenario
    start_at: float | None = None  # --start-at, unix time: the load starts at that instant


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def run_plan(plan: Plan, options: RunOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> Results:
    out = out or sys.stdout
    err = err or sys.stderr
    started_at = now()
    metrics = Metrics()
    errors = ErrorLog()
    interval = options.interval or default_interval(plan.duration)
    notes: list[str] = []
    if plan.breakpoint is not None:
        interval, note = step_interval(plan.breakpoint, interval, given=options.interval is not None)
        notes.extend(note)
    engine: Engine | None = None
    outcome: EngineOutcome | None = None
    crash: Exception | None = None
    signals = _Signals()
    shard = options.shard or WHOLE
    share = sum(shard.vus(s.max_vus) for s in plan.scenarios)  # this process's VUs, over every scenario
    limit = connection_limit(share)
    workers = choose_workers(options.workers, share)
    short = raise_nofile(needed(share, workers))  # before the workers start: they inherit it
    if short is not None:
        notes.append(short)
        with contextlib.suppress(OSError):
            err.write(f"mcpgate: warning: {short}\n")
    async with make_http(plan.connect.settings, limit=limit) as http:
        checking = asyncio.create_task(preflight(http, plan, rows=shard.rows()))

        def on_signal(grace: float) -> None:
            if engine is not None:
                engine.interrupt(grace)
            else:
                checking.cancel()

        signals.install(on_signal)
        try:
            try:
                pre = await checking
            except asyncio.CancelledError:
                if not signals.count:
                    raise
                pre = Preflight(False, exitcodes.INTERRUPTED, "interrupted during the preflight session")
            if pre.ok and not signals.count:
                progress = Progress(err) if options.progress else None
                on_step = None
                if progress is not None and plan.breakpoint is not None:
                    on_step = _step_lines(plan.breakpoint, progress)
                engine = _engine(
                    plan,
                    pre,
                    http,
                    metrics=metrics,
                    errors=errors,
                    interval=interval,
                    workers=workers,
                    shard=shard,
                    on_step=on_step,
                )
                if progress is not None and options.start_at is not None:
                    progress.show(_waiting_line(options))
                watcher = asyncio.create_task(_report_progress(engine, plan, progress)) if progress else None
                try:
                    outcome = await engine.run(start_at=options.start_at)
                except Exception as exc:  # a bug: keep what was measured, and say what happened
                    crash = exc
                finally:
                    if watcher is not None:
                        watcher.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await watcher
                    if progress is not None:
                        progress.done()
        except BaseException:
            signals.remove()
            raise
    # Signals stay handled until the results are out: a second one must not kill the process mid-write.
    # Thresholds judge a load; when none ran there is nothing to judge (the status says why), and a
    # shard with no part of any scenario has no load of its own to judge (the merge judges the run).
    loaded = outcome is not None and outcome.started and share > 0
    verdicts = evaluate_all(plan.thresholds, metrics.observe) if loaded else []
    conclusion = None
    if plan.breakpoint is not None and outcome is not None and outcome.steps:
        conclusion = conclude(plan.breakpoint, outcome.steps)
        verdicts = list(_shown_step(conclusion).verdicts)  # each step was judged alone: show the one that tells
    status, code, reason = _verdict(pre, outcome, verdicts, signals.count > 0, crash, search=conclusion)
    results = _results(
        plan,
        pre=pre,
        outcome=outcome,
        metrics=metrics,
        errors=errors,
        engine=engine,
        verdicts=verdicts,
        status=status,
        code=code,
        reason=reason,
        started_at=started_at,
        interval=interval,
        workers=workers if engine is not None else 1,
        shard=options.shard,
        start_at=options.start_at,
        notes=notes,
    )
    if options.baseline is not None and outcome is not None:
        results = with_baseline(results, options.baseline, options.max_regression)
    if outcome is not None and plan.breakpoint is None:  # a search's load climbs: drift means nothing there
        steady = steady_load(plan.config.scenarios)
        results = with_drift(results, steady, max_drift=options.max_drift, window=options.drift_window)
    deliver(results, options, out, err)
    signals.remove(ignore_more=options.last_act)
    return results


def _engine(
    plan: Plan,
    pre: Preflight,
    http: wire.Pool,
    *,
    metrics: Metrics,
    errors: ErrorLog,
    interval: float,
    workers: int,
    shard: Shard = WHOLE,
    on_step: Callable[[StepResult], None] | None = None,
) -> Engine:
    """The engine for this run (or this shard's part of it): its VUs in this process, or over worker processes."""
    assert pre.target is not None
    assert pre.mix is not None
    if workers > 1:
        within = shard if shard != WHOLE else None
        fleet = Fleet(plan, pre.target, pre.offered, count=workers, interval=interval, within=within)
        return Engine(plan, None, metrics, errors, interval=interval, fleet=fleet, on_step=on_step)
    config = plan.config
    flow = Flow(http, pre.target, pre.mix, config.flow)
    return Engine(plan, flow, metrics, errors, interval=interval, shard=shard, on_step=on_step)


def _step_lines(search: BreakpointPlan, progress: Progress) -> Callable[[StepResult], None]:
    """A line for each step of a breakpoint search as it is judged."""

    def show(step: StepResult) -> None:
        progress.note(step_line(search, step))

    return show


def _shown_step(search: Conclusion) -> StepResult:
    """The step whose thresholds a search reports: its breaking point, or the first step when none held."""
    shown = search.held or search.broke
    assert shown is not None, "a search with judged steps has held or broken one"
    return shown


def with_baseline(results: Results, baseline: Results, max_regression: float) -> Results:
    """Compare with an earlier run; a regression turns a passing run into a failed one (exit 99)."""
    comparison = compare(baseline, results, max_regression)
    section = BaselineComparison(
        baseline_started=comparison.baseline_started,
        max_regression=max_regression,
        ok=comparison.ok,
        deltas=[
            BaselineDelta(
                metric=d.metric, stat=d.stat, kind=d.kind, baseline=d.baseline, current=d.current, regressed=d.regressed
            )
            for d in comparison.deltas
        ],
        notes=list(comparison.notes),
    )
    update: dict[str, object] = {"baseline": section}
    if not comparison.ok and results.run.status == "passed":
        run = results.run.model_copy(
            update={"status": "failed", "exit_code": exitcodes.THRESHOLDS_FAILED, "reason": comparison.reason()}
        )
        update["run"] = run
    return results.model_copy(update=update)


def deliver(results: Results, options: RunOptions, out: TextIO, err: TextIO) -> None:
    """Summary on the console, then every file asked for; a file that cannot be written is one line, not a crash."""
    if options.summary:
        with contextlib.suppress(OSError):  # a closed stdout must not cost the results file
            out.write(render_summary(results) + "\n")
            out.flush()
    files: list[tuple[Path | None, Callable[[], str | None]]] = [
        (options.markdown, lambda: render_markdown(results, template=options.summary_template)),
        (options.junit, lambda: render_junit(results)),
    ]
    if options.out is not None:
        try:
            write(results, options.out)
        except OSError as exc:
            _complain(err, f"could not write {options.out}: {exc.strerror or exc}")
    for path, render in files:
        if path is None:
            continue
        try:
            text = render()
            if text is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        except OSError as exc:
            _complain(err, f"could not write {path}: {exc.strerror or exc}")
        except ValueError as exc:  # a user's summary template that does not render
            _complain(err, str(exc))


def _complain(err: TextIO, message: str) -> None:
    with contextlib.suppress(OSError):
        err.write(f"mcpgate: error: {message}\n")


def _verdict(
    pre: Preflight,
    outcome: EngineOutcome | None,
    verdicts: list[Verdict],
    interrupted: bool,
    crash: Exception | None,
    *,
    search: Conclusion | None = None,
) -> tuple[Status, int, str]:
    if crash is not None:
        why = f"internal error: {type(crash).__name__}: {crash} (please report it)"
        return "error", exitcodes.INTERNAL_ERROR, why
    if interrupted or (outcome is not None and outcome.interrupted):
        stage = "before the load started" if outcome is None or not outcome.started else "during the load"
        return "interrupted", exitcodes.INTERRUPTED, f"stopped by a signal (SIGINT or SIGTERM) {stage}"
    if not pre.ok or outcome is None:
        return "not_started", pre.exit_code, pre.reason
    if outcome.aborted_by is not None:
        return "aborted", exitcodes.THRESHOLDS_FAILED, f"{said(outcome.aborted_by)}, so the run was stopped"
    if search is not None:  # finding the breaking point is the job: only no step held, or a capacity gate, fails it
        if (search.broke is not None and search.held is None) or search.gate_ok is False:
            return "failed", exitcodes.THRESHOLDS_FAILED, search.reason
        return "passed", exitcodes.OK, search.reason
    return threshold_verdict(verdicts)


def threshold_verdict(verdicts: list[Verdict]) -> tuple[Status, int, str]:
    """Passed, or failed (99) naming the first threshold that failed; a merge of shards judges the same way."""
    failed = [v for v in verdicts if not v.ok]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return "failed", exitcodes.THRESHOLDS_FAILED, f"{said(failed[0])}{more}"
    return "passed", exitcodes.OK, ""


def said(verdict: Verdict) -> str:
    """``mcp_tool_duration p(95)<3000 failed: p(95)=4.12s``, in the metric's own units."""
    t = verdict.threshold
    info = BUILTIN.get(t.key.name)
    shown = observed(info.type.value if info else "", t.aggregation, verdict.observed)
    return f"{t.key} {t.source} failed: {shown}"


def _results(
    plan: Plan,
    *,
    pre: Preflight,
    outcome: EngineOutcome | None,
    metrics: Metrics,
    errors: ErrorLog,
    engine: Engine | None,
    verdicts: list[Verdict],
    status: Status,
    code: int,
    reason: str,
    started_at: str,
    interval: float,
    workers: int,
    shard: Shard | None = None,
    start_at: float | None = None,
    notes: list[str] | None = None,
) -> Results:
    redact = plan.redact
    identity = pre.identity
    extra = [(t.key.name, t.key.tags) for t in plan.thresholds]
    lag = outcome.lag if outcome is not None else 0.0
    notes = [*plan.notes, *pre.notes, *_shard_notes(plan, shard, start_at, lag), *(notes or [])]
    return Results(
        run=RunInfo(
            status=status,
            exit_code=code,
            reason=redact(reason),
            started_at=started_at,
            ended_at=now(),
            duration_s=round(outcome.duration if outcome else 0.0, 3),
            profile=plan.profile,
            source=plan.source,
            config_digest=plan.digest,
            mcpgate_version=__version__,
            interrupted_iterations=outcome.interrupted_iterations if outcome else 0,
            workers=workers,
            notes=[redact(n) for n in notes],
            shard=ShardInfo(
                index=shard.index,
                count=shard.count,
                start_at=iso(start_at) if start_at is not None else None,
                lag_s=round(lag, 3),
            )
            if shard is not None
            else None,
        ),
        target=TargetInfo(
            url=redact.url(plan.connect.url),
            transport=identity.transport if identity else None,
            protocol_version=identity.protocol_version if identity else None,
            server_info=identity.server_info if identity else None,
            chosen=redact(pre.chosen),
            tools=[redact(t) for t in pre.tools],
        ),
        scenarios=[
            ScenarioInfo(
                name=s.name,
                executor=s.executor,
                description=s.describe(),
                max_vus=s.max_vus,
                start_time=s.start_time,
                duration=s.duration,
            )
            for s in plan.scenarios
        ],
        thresholds=threshold_results(verdicts, outcome.aborted_by if outcome else None),
        metrics=metric_entries(metrics, extra),
        phases=latency_table(metrics, "http_req_duration", "method", PHASE_ORDER),
        tools=latency_table(metrics, "mcp_tool_duration", "tool"),
        errors=error_classes(errors, redact),
        preflight=[step_dict(s, redact) for s in pre.steps],
        timeseries=timeseries(engine.timeline, interval) if engine is not None else None,
        series=series_entries(metrics),
        breakpoint=_search(plan, outcome, engine),
    )


def _shard_notes(plan: Plan, shard: Shard | None, start_at: float | None, lag: float) -> list[str]:
    """What a reader of one shard's results must know: the parts it sat out, and a late start."""
    notes: list[str] = []
    if start_at is not None and lag > LATE_NOTE:
        behind = "this shard's timeline is" if shard is not None else "the timeline is"
        notes.append(
            f"the load started {lag:.1f}s after --start-at {iso(start_at)} (the time had passed when the "
            f"preflight ended): {behind} {lag:.1f}s behind it"
        )
    if shard is None:
        return notes
    name = f"shard {shard.index}/{shard.count}"
    idle = [s for s in plan.scenarios if shard.of(s.max_vus) is None]
    if idle and len(idle) == len(plan.scenarios):
        notes.append(
            f"{name} has no part of any scenario (the plan has fewer VUs than {shard.count} shards in each): "
            "it sends no load and judges no thresholds"
        )
    else:
        for s in idle:
            where = "its 1 VU runs on shard 0"
            if s.max_vus > 1:
                where = f"its {s.max_vus} VUs run on shards 0 to {s.max_vus - 1}"
            notes.append(f"{name} runs nothing of scenario {s.name!r}: {where}")
    return notes


def _waiting_line(options: RunOptions) -> str:
    assert options.start_at is not None
    who = f"shard {options.shard.index}/{options.shard.count}: " if options.shard is not None else ""
    left = format_duration(round(max(0.0, options.start_at - time.time())))
    return f"{who}the preflight passed; the load starts at {iso(options.start_at)} (in {left})"


def _search(plan: Plan, outcome: EngineOutcome | None, engine: Engine | None) -> BreakpointResult | None:
    if plan.breakpoint is None or outcome is None or outcome.steps is None:
        return None
    return breakpoint_section(plan.breakpoint, outcome.steps, engine.timeline if engine else None, plan.redact)


async def _report_progress(engine: Engine, plan: Plan, progress: Progress) -> None:
    last_t, last_reqs = 0.0, 0.0
    total = plan.duration
    while True:
        await asyncio.sleep(progress.every)
        if engine.waiting_until is not None:
            left = max(0.0, engine.waiting_until - time.time())
            progress.show(f"waiting for the start at {iso(engine.waiting_until)}: {format_duration(round(left))} to go")
            continue
        m = engine.metrics
        elapsed = engine.elapsed()
        reqs = m.counter_total("http_reqs") or 0.0
        rps = (reqs - last_reqs) / (elapsed - last_t) if elapsed > last_t else 0.0
        last_t, last_reqs = elapsed, reqs
        passed, checked = m.rate_totals("checks")
        error_rate = (checked - passed) / checked if checked else None
        point: Point | None = engine.timeline.points[-1] if engine.timeline.points else None
        control = engine.control
        progress.show(
            progress_line(
                elapsed=elapsed,
                total=total,
                vus=control.active_vus,
                vus_max=control.allocated_vus,
                iterations=m.counter_total("iterations") or 0,
                rps=rps,
                error_rate=error_rate,
                p95=point.p95 if point else None,
                streams=m.aggregate(STREAMS_OPEN, (), "value"),  # None until a stream was held
            )
        )


class _Signals:
    """SIGINT/SIGTERM: the first stops the run with a short grace; the second stops it at once."""

    def __init__(self) -> None:
        self.count = 0
        self._installed: list[signal.Signals] = []

    def install(self, stop: Callable[[float], None]) -> None:
        loop = asyncio.get_running_loop()

        def handler() -> None:
            self.count += 1
            grace = INTERRUPT_GRACE if self.count == 1 else 0.0
            stop(grace)

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                self._installed.append(sig)

    def remove(self, *, ignore_more: bool = False) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            if ignore_more:
                loop.add_signal_handler(sig, lambda: None)
            else:
                loop.remove_signal_handler(sig)
        self._installed.clear()
