"""What one run gathered as it went, and the results file made of it.

``RunRecord`` is the run's state from the plan to the verdict: the preflight,
the engine and its outcome, the metrics, a crash. ``build_results`` turns it,
with the verdict, into the results every report reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from mcpgate import __version__
from mcpgate.app.preflight import Preflight
from mcpgate.app.probe import step_dict
from mcpgate.app.signals import Signals
from mcpgate.engine.runner import Engine, EngineOutcome
from mcpgate.engine.shard import WHOLE, Shard
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import Metrics
from mcpgate.plan.build import Plan
from mcpgate.results.build import error_classes, latency_table, metric_entries, series_entries, timeseries
from mcpgate.results.schema import (
    PHASE_ORDER,
    BreakpointResult,
    Results,
    RunInfo,
    ScenarioInfo,
    ShardInfo,
    TargetInfo,
)
from mcpgate.results.server import exercised, unexercised
from mcpgate.support.startat import LATE_NOTE, iso
from mcpgate.verdict.breakpoint import StepJudge, breakpoint_section
from mcpgate.verdict.judge import Judged, RunState
from mcpgate.verdict.thresholds import AbortWatch, Verdict, threshold_results


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class RunRecord:
    """One run (or one shard's part of it) from its plan to its verdict."""

    plan: Plan
    interval: float  # seconds per timeline point
    shard: Shard | None  # --shard I/N, or None for the whole run
    start_at: float | None  # --start-at, unix time
    workers: int  # generator processes chosen for this run
    started_at: str = field(default_factory=now)
    notes: list[str] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)
    errors: ErrorLog = field(default_factory=ErrorLog)
    signals: Signals = field(default_factory=Signals)
    abort: AbortWatch | None = None
    search: StepJudge | None = None
    pre: Preflight | None = None
    engine: Engine | None = None
    outcome: EngineOutcome | None = None
    crash: Exception | None = None

    @property
    def part(self) -> Shard:
        return self.shard or WHOLE

    @property
    def share(self) -> int:
        """This process's VUs, over every scenario."""
        return sum(self.part.vus(s.max_vus) for s in self.plan.scenarios)

    @property
    def preflight(self) -> Preflight:
        assert self.pre is not None, "a run is judged after its preflight"
        return self.pre

    @property
    def aborted_by(self) -> Verdict | None:
        return self.abort.aborted_by if self.abort is not None and self.outcome is not None else None

    def state(self) -> RunState:
        """The run as its verdict sees it."""
        outcome, pre = self.outcome, self.preflight
        return RunState(
            crash=self.crash,
            interrupted=self.signals.count > 0 or (outcome is not None and outcome.interrupted),
            load_started=outcome is not None and outcome.started,
            engine_ran=outcome is not None,
            preflight_ok=pre.ok,
            preflight_code=pre.exit_code,
            preflight_reason=pre.reason,
            aborted_by=self.aborted_by,
        )


def build_results(record: RunRecord, verdicts: list[Verdict], judged: Judged) -> Results:
    """The results file of a run, judged."""
    plan, metrics, pre, engine = record.plan, record.metrics, record.preflight, record.engine
    extra = [(t.key.name, t.key.tags) for t in plan.thresholds]
    series = series_entries(metrics)
    return Results(
        run=_run_info(record, judged),
        target=_target_info(plan, pre, exercised(series)),
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
        thresholds=threshold_results(verdicts, record.aborted_by),
        metrics=metric_entries(metrics, extra),
        phases=latency_table(metrics, "http_req_duration", "method", PHASE_ORDER),
        tools=latency_table(metrics, "mcp_tool_duration", "tool"),
        errors=error_classes(record.errors, plan.redact),
        preflight=[step_dict(s, plan.redact) for s in pre.steps],
        timeseries=timeseries(engine.timeline, record.interval) if engine is not None else None,
        series=series,
        breakpoint=_search(record),
        warnings=[plan.redact(w) for w in pre.warnings],
    )


def _run_info(record: RunRecord, judged: Judged) -> RunInfo:
    plan, outcome, shard = record.plan, record.outcome, record.shard
    status, code, reason = judged
    redact = plan.redact
    lag = outcome.lag if outcome is not None else 0.0
    notes = [*plan.notes, *record.preflight.notes, *_shard_notes(record, lag), *record.notes]
    return RunInfo(
        status=status,
        exit_code=code,
        reason=redact(reason),
        started_at=record.started_at,
        ended_at=now(),
        duration_s=round(outcome.duration if outcome else 0.0, 3),
        profile=plan.profile,
        source=plan.source,
        config_digest=plan.digest,
        mcpgate_version=__version__,
        interrupted_iterations=outcome.interrupted_iterations if outcome else 0,
        workers=record.workers if record.engine is not None else 1,
        notes=[redact(n) for n in notes],
        shard=ShardInfo(
            index=shard.index,
            count=shard.count,
            start_at=iso(record.start_at) if record.start_at is not None else None,
            lag_s=round(lag, 3),
        )
        if shard is not None
        else None,
    )


def _target_info(plan: Plan, pre: Preflight, sent: set[str]) -> TargetInfo:
    redact, identity = plan.redact, pre.identity
    capabilities = identity.capabilities if identity else None
    return TargetInfo(
        url=redact.url(plan.connect.url),
        transport=identity.transport if identity else None,
        protocol_version=identity.protocol_version if identity else None,
        server_info=identity.server_info if identity else None,
        chosen=redact(pre.chosen),
        tools=[redact(t) for t in pre.tools],
        capabilities=redact.json(capabilities) if capabilities is not None else None,
        instructions=redact(identity.instructions) if identity and identity.instructions is not None else None,
        unexercised=unexercised(capabilities, sent) if pre.ok else [],
    )


def _shard_notes(record: RunRecord, lag: float) -> list[str]:
    """What a reader of one shard's results must know: the parts it sat out, and a late start."""
    plan, shard, start_at = record.plan, record.shard, record.start_at
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
        return notes
    for s in idle:
        where = "its 1 VU runs on shard 0"
        if s.max_vus > 1:
            where = f"its {s.max_vus} VUs run on shards 0 to {s.max_vus - 1}"
        notes.append(f"{name} runs nothing of scenario {s.name!r}: {where}")
    return notes


def _search(record: RunRecord) -> BreakpointResult | None:
    plan, search = record.plan, record.search
    if plan.breakpoint is None or record.outcome is None or search is None:
        return None
    timeline = record.engine.timeline if record.engine is not None else None
    return breakpoint_section(plan.breakpoint, search.steps, timeline, plan.redact)
