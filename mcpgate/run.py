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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from mcpgate import __version__, exitcodes
from mcpgate.catalog import BUILTIN
from mcpgate.compare import DEFAULT_MAX_REGRESSION, compare
from mcpgate.engine.fleet import Fleet
from mcpgate.engine.runner import Engine, EngineOutcome, default_interval
from mcpgate.engine.shard import choose_workers
from mcpgate.flow import Flow
from mcpgate.metrics import Metrics
from mcpgate.plan import Plan
from mcpgate.preflight import Preflight, preflight
from mcpgate.probe import step_dict
from mcpgate.protocol import wire
from mcpgate.protocol.http import connection_limit, make_http
from mcpgate.recorder import STREAMS_OPEN, ErrorLog
from mcpgate.report.console import render_summary
from mcpgate.report.format import observed
from mcpgate.report.junit import render_junit
from mcpgate.report.markdown import render_markdown
from mcpgate.report.progress import Progress, progress_line
from mcpgate.results import (
    PHASE_ORDER,
    BaselineComparison,
    BaselineDelta,
    Results,
    RunInfo,
    ScenarioInfo,
    Status,
    TargetInfo,
    error_classes,
    latency_table,
    metric_entries,
    series_entries,
    threshold_results,
    timeseries,
    write,
)
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


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def run_plan(plan: Plan, options: RunOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> Results:
    out = out or sys.stdout
    err = err or sys.stderr
    started_at = now()
    metrics = Metrics()
    errors = ErrorLog()
    interval = options.interval or default_interval(plan.duration)
    engine: Engine | None = None
    outcome: EngineOutcome | None = None
    crash: Exception | None = None
    signals = _Signals()
    limit = connection_limit(plan.max_vus)
    workers = choose_workers(options.workers, plan.max_vus)
    async with make_http(plan.connect.settings, limit=limit) as http:
        checking = asyncio.create_task(preflight(http, plan))

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
                engine = _engine(plan, pre, http, metrics=metrics, errors=errors, interval=interval, workers=workers)
                progress = Progress(err) if options.progress else None
                watcher = asyncio.create_task(_report_progress(engine, plan, progress)) if progress else None
                try:
                    outcome = await engine.run()
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
    # Thresholds judge a load; when none ran there is nothing to judge (the status says why).
    verdicts = evaluate_all(plan.thresholds, metrics.observe) if outcome is not None else []
    status, code, reason = _verdict(pre, outcome, verdicts, signals.count > 0, crash)
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
    )
    if options.baseline is not None and outcome is not None:
        results = with_baseline(results, options.baseline, options.max_regression)
    deliver(results, options, out, err)
    signals.remove(ignore_more=options.last_act)
    return results


def _engine(
    plan: Plan, pre: Preflight, http: wire.Pool, *, metrics: Metrics, errors: ErrorLog, interval: float, workers: int
) -> Engine:
    """The engine for this run: its VUs in this process, or spread over worker processes."""
    assert pre.target is not None
    assert pre.mix is not None
    if workers > 1:
        fleet = Fleet(plan, pre.target, pre.offered, count=workers, interval=interval)
        return Engine(plan, None, metrics, errors, interval=interval, fleet=fleet)
    config = plan.config
    flow = Flow(http, pre.target, pre.mix, config.flow)
    return Engine(plan, flow, metrics, errors, interval=interval)


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
) -> tuple[Status, int, str]:
    if crash is not None:
        why = f"internal error: {type(crash).__name__}: {crash} (please report it)"
        return "error", exitcodes.INTERNAL_ERROR, why
    if interrupted or (outcome is not None and outcome.interrupted):
        stage = "before the load started" if outcome is None else "during the load"
        return "interrupted", exitcodes.INTERRUPTED, f"stopped by a signal (SIGINT or SIGTERM) {stage}"
    if not pre.ok or outcome is None:
        return "not_started", pre.exit_code, pre.reason
    if outcome.aborted_by is not None:
        return "aborted", exitcodes.THRESHOLDS_FAILED, f"{_said(outcome.aborted_by)}, so the run was stopped"
    failed = [v for v in verdicts if not v.ok]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return "failed", exitcodes.THRESHOLDS_FAILED, f"{_said(failed[0])}{more}"
    return "passed", exitcodes.OK, ""


def _said(verdict: Verdict) -> str:
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
) -> Results:
    redact = plan.redact
    identity = pre.identity
    extra = [(t.key.name, t.key.tags) for t in plan.thresholds]
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
            notes=[redact(n) for n in (*plan.notes, *pre.notes)],
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
    )


async def _report_progress(engine: Engine, plan: Plan, progress: Progress) -> None:
    last_t, last_reqs = 0.0, 0.0
    total = plan.duration
    while True:
        await asyncio.sleep(progress.every)
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
