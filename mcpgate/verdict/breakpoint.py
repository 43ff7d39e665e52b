"""The breakpoint search judged: each step on its own samples, and the breaking point.

engine/steps.py keeps each step's samples apart from the rest; here a step is
judged on them alone, so a breaking step is never diluted by the good steps
before it: the run's thresholds, the error limit, and, for an arrival rate,
iterations that could not start in time. The breaking point is the last step
that held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mcpgate.config.thresholds import Threshold
from mcpgate.metrics.registry import Metrics
from mcpgate.metrics.timeline import Point, Timeline
from mcpgate.plan.breakpoint import ARRIVAL, BreakpointPlan
from mcpgate.results.schema import BreakpointFailure, BreakpointResult, BreakpointStep
from mcpgate.support.format import count, pct
from mcpgate.support.redact import Redactor
from mcpgate.verdict.thresholds import Verdict, evaluate_all, said, should_abort, threshold_results

# -- judging a step -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a step did not hold."""

    kind: str  # "threshold", "errors", "dropped" or "idle"
    what: str  # the threshold ("mcp_tool_duration p(95)<3000") or the limit ("failed requests")
    observed: float | None
    limit: float | None
    text: str  # one line: "mcp_tool_duration p(95)<3000 failed: p(95)=4.12s"


@dataclass(frozen=True)
class StepResult:
    """One step's own figures and verdict."""

    index: int  # 0-based
    level: float
    start: float  # seconds from the start of the run
    seconds: float  # how long the judged window lasted
    partial: bool  # judged before its end: an abort_on_fail threshold failed on the step so far
    iterations: int
    requests: int
    dropped: int
    scheduled: int | None
    p95_http: float | None  # ms
    p95_tool: float | None  # ms
    error_rate: float | None  # MCP steps not ok
    failed_rate: float | None  # http_req_failed
    verdicts: tuple[Verdict, ...]
    failures: tuple[Failure, ...]

    @property
    def held(self) -> bool:
        return not self.failures

    @property
    def throughput(self) -> float:
        """Iterations completed per second."""
        return self.iterations / self.seconds if self.seconds > 0 else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def judge_step(
    plan: BreakpointPlan,
    index: int,
    window: Metrics,
    thresholds: Sequence[Threshold],
    seconds: float,
    *,
    partial: bool = False,
    lead: Threshold | None = None,
) -> StepResult:
    """Step ``index`` judged on its own samples (``window``, ``seconds`` long).

    Every threshold is evaluated over the window alone (a counter's rate per second of the
    step); one that fails, "no data" included unless allow_no_data, breaks the step, as do the
    error limit, iterations that could not start, and a step in which no request completed.
    ``lead``, the threshold that cut a step short, is named first.
    """
    window.elapsed = seconds
    verdicts = tuple(evaluate_all(thresholds, window.observe))
    failing = sorted((v for v in verdicts if not v.ok), key=lambda v: v.threshold != lead)
    failures = [_threshold_failure(v) for v in failing]
    failed_rate, error_rate = _error_rates(window)
    failures.extend(_error_failures(plan.max_error_rate, failed_rate, error_rate))
    dropped = round(window.counter_total("dropped_iterations") or 0.0)
    scheduled = plan.scheduled(index, seconds if partial else None)
    failures.extend(_dropped_failures(plan, dropped, scheduled))
    requests = round(window.counter_total("http_reqs") or 0.0)
    if requests == 0:
        failures.append(Failure("idle", "requests", 0.0, None, "no request completed in the step"))
    http = window.trend_snapshot("http_req_duration")
    tool = window.trend_snapshot("mcp_tool_duration")
    return StepResult(
        index=index,
        level=plan.levels[index],
        start=plan.span(index)[0],
        seconds=seconds,
        partial=partial,
        iterations=round(window.counter_total("iterations") or 0.0),
        requests=requests,
        dropped=dropped,
        scheduled=scheduled,
        p95_http=http.percentile(95.0) if http is not None else None,
        p95_tool=tool.percentile(95.0) if tool is not None else None,
        error_rate=error_rate,
        failed_rate=failed_rate,
        verdicts=verdicts,
        failures=tuple(failures),
    )


def _error_rates(window: Metrics) -> tuple[float | None, float | None]:
    """Failed requests (http_req_failed) and failed MCP steps (checks) in the window; None without any."""
    checks_ok, checks = window.rate_totals("checks")
    failed, requests_rated = window.rate_totals("http_req_failed")
    return (failed / requests_rated if requests_rated else None), ((checks - checks_ok) / checks if checks else None)


def _error_failures(limit: float, failed_rate: float | None, error_rate: float | None) -> list[Failure]:
    """Failed requests, then failed MCP steps, each above the search's error limit."""
    failures = []
    for what, rate in (("failed requests (http_req_failed)", failed_rate), ("failed MCP steps (checks)", error_rate)):
        if rate is not None and rate > limit:
            text = f"{what} {pct(rate)}, more than the limit {pct(limit)}"
            failures.append(Failure("errors", what, rate, limit, text))
    return failures


def _dropped_failures(plan: BreakpointPlan, dropped: int, scheduled: int | None) -> list[Failure]:
    """Iterations the arrival schedule could not start in time: the VUs could not keep up."""
    if scheduled is None or not dropped or dropped <= plan.max_dropped_rate * scheduled:
        return []
    share = dropped / scheduled if scheduled else 1.0
    text = (
        f"{count(dropped)} of {count(scheduled)} iterations could not start in time ({pct(share)}): "
        f"all {plan.max_vus} VUs were busy"
    )
    return [Failure("dropped", "dropped iterations", share, plan.max_dropped_rate, text)]


def _threshold_failure(verdict: Verdict) -> Failure:
    t = verdict.threshold
    return Failure("threshold", f"{t.key} {t.source}", verdict.observed, t.limit, said(verdict))


class StepJudge:
    """Judges a search's steps in order, each on its own window; the first that breaks ends the search."""

    def __init__(
        self,
        plan: BreakpointPlan,
        thresholds: Sequence[Threshold],
        *,
        on_step: Callable[[StepResult], None] | None = None,
    ) -> None:
        self.plan = plan
        self.thresholds = tuple(thresholds)
        self.watched = tuple(t for t in thresholds if t.abort_on_fail)
        self.on_step = on_step
        self.steps: list[StepResult] = []
        self.over = False  # a step broke, or every step was judged

    @property
    def watching(self) -> bool:
        return bool(self.watched)

    def judge(
        self, window: Metrics, seconds: float, *, partial: bool = False, lead: Threshold | None = None
    ) -> str | None:
        """The next step, on its own window of ``seconds``: why the search stops there, or None if it held."""
        if self.over:
            return None
        result = judge_step(self.plan, len(self.steps), window, self.thresholds, seconds, partial=partial, lead=lead)
        self.steps.append(result)
        why = None
        if not result.held:
            self.over = True
            why = f"breakpoint: {self.plan.show(result.level)} broke: {result.failures[0].text}"
        elif len(self.steps) == len(self.plan.levels):
            self.over = True
        if self.on_step is not None:
            self.on_step(result)
        return why

    def early(self, window: Metrics, seconds: float) -> Threshold | None:
        """An abort_on_fail threshold that fails on the step so far (``seconds`` into it), if any."""
        if self.over or not self.watched:
            return None
        window.elapsed = seconds
        failed = should_abort(evaluate_all(self.watched, window.observe), seconds)
        return failed.threshold if failed is not None else None


# -- the outcome ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Conclusion:
    """What the steps judged so far say about the server's capacity."""

    held: StepResult | None  # the breaking point: the last step that held
    broke: StepResult | None  # the first step that did not
    complete: bool  # the search ended: a step broke, or every level held
    headline: str  # the short human value: "120 iterations/s", "not reached up to 200 iterations/s"
    reason: str  # one line for the run's verdict
    gate_ok: bool | None  # against min_breaking_point; None without one

    @property
    def found(self) -> bool:
        """A step broke after at least one held: the breaking point is known exactly (to a step)."""
        return self.held is not None and self.broke is not None

    def rate(self, plan: BreakpointPlan) -> float | None:
        """Iterations/s at the breaking point: the level held (arrival) or the throughput measured (VUs)."""
        if self.held is None:
            return 0.0 if self.broke is not None else None
        return self.held.level if plan.executor == ARRIVAL else self.held.throughput


def conclude(plan: BreakpointPlan, steps: Sequence[StepResult]) -> Conclusion:
    held = None
    for step in steps:
        if not step.held:
            break
        held = step
    broke = next((step for step in steps if not step.held), None)
    complete = broke is not None or len(steps) == len(plan.levels)
    if broke is not None:
        why = f"at {plan.show(broke.level)} {broke.failures[0].text}"
        more = len(broke.failures) - 1
        if more:
            why += f" (and {more} more)"
    if broke is not None and held is not None:
        headline = plan.show(held.level)
        reason = f"breaking point {headline}: {why}"
    elif broke is not None:
        headline = f"below {plan.show(plan.levels[0])}"
        reason = f"no step held, the first already broke: {why}; start the search lower (breakpoint.start)"
    elif complete:
        headline = f"not reached up to {plan.show(plan.levels[-1])}"
        reason = f"breaking point {headline}: every step held"
    elif held is not None:
        headline = f"at least {plan.show(held.level)}"
        reason = f"the search stopped before it ended: {plan.show(held.level)} held"
    else:
        headline, reason = "", "the search stopped before its first step ended"
    gate_ok: bool | None = None
    if plan.min_breaking_point is not None and complete:
        reached = held.level if held is not None else 0.0
        gate_ok = reached >= plan.min_breaking_point
        if not gate_ok and held is not None:  # with none held, that is the reason already
            reason = f"breaking point {headline} is below the minimum {plan.show(plan.min_breaking_point)}" + (
                f": {why}" if broke is not None else ""
            )
    return Conclusion(held, broke, complete, headline, reason, gate_ok)


def breakpoint_section(
    plan: BreakpointPlan, steps: Sequence[StepResult], timeline: Timeline | None, redact: Redactor
) -> BreakpointResult:
    """The search as judged: every step's figures, and where the server broke."""
    conclusion = conclude(plan, steps)
    points = timeline.points if timeline is not None else []
    rows = [_step_row(step, points, redact) for step in steps]
    held, broke = conclusion.held, conclusion.broke
    return BreakpointResult(
        executor="vus" if plan.executor == "vus" else "arrival",
        unit=plan.unit,
        start=plan.start,
        step=plan.step,
        max=plan.max,
        step_duration_s=plan.step_duration,
        max_error_rate=plan.max_error_rate,
        max_dropped_rate=plan.max_dropped_rate,
        max_vus=plan.max_vus,
        levels=list(plan.levels),
        breaking_point=held.level if held is not None else None,
        breaking_step=held.index + 1 if held is not None else None,
        broken_step=broke.index + 1 if broke is not None else None,
        rate=conclusion.rate(plan),
        found=conclusion.found,
        complete=conclusion.complete,
        headline=conclusion.headline,
        reason=redact(conclusion.reason),
        min_breaking_point=plan.min_breaking_point,
        gate_ok=conclusion.gate_ok,
        steps=rows,
    )


def _step_row(step: StepResult, points: Sequence[Point], redact: Redactor) -> BreakpointStep:
    """A step as the results file keeps it, with the most VUs active at a timeline point in it."""
    end = step.start + step.seconds
    active = [p.vus for p in points if step.start < p.t <= end + 1e-6]
    return BreakpointStep(
        step=step.index + 1,
        level=step.level,
        start_s=round(step.start, 3),
        duration_s=round(step.seconds, 3),
        held=step.held,
        partial=step.partial,
        iterations=step.iterations,
        throughput=round(step.throughput, 3),
        requests=step.requests,
        rps=round(step.rps, 3),
        p95_http_ms=step.p95_http,
        p95_tool_ms=step.p95_tool,
        error_rate=step.error_rate,
        failed_rate=step.failed_rate,
        dropped=step.dropped,
        scheduled=step.scheduled,
        vus=max(active) if active else None,
        failures=[
            BreakpointFailure(kind=f.kind, what=redact(f.what), value=f.observed, limit=f.limit, text=redact(f.text))
            for f in step.failures
        ],
        thresholds=threshold_results(step.verdicts, None),
    )
