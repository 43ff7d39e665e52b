"""Thresholds judged: live for abort, and at the end for the run's verdict.

Evaluation is a pure function of an ``Observe`` callback, so the live abort
check and the final verdict use the same code and tests need no metrics engine.
A metric without samples fails as "no data" (k6 compares an empty trend's
zeros, so ``p(95)<3000`` passed with no calls at all) unless ``allow_no_data``
says it may pass; live, no data never aborts, as k6 skips empty sinks until the
end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from mcpgate.config.thresholds import Threshold
from mcpgate.metrics.catalog import BUILTIN
from mcpgate.metrics.keys import Observe, short_number, trim
from mcpgate.results.schema import ThresholdResult
from mcpgate.support.format import observed


@dataclass(frozen=True, slots=True)
class Verdict:
    """A threshold's outcome at one moment: live for abort, or at the end for the run's verdict."""

    threshold: Threshold
    ok: bool
    observed: float | None  # the aggregated value; None when the metric had no samples
    reason: str  # "" when ok; "no data"; or e.g. "p(95)=4120 (limit <3000)"


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def evaluate(threshold: Threshold, observe: Observe) -> Verdict:
    """Compare as k6 does: plain floats, no rounding (so NaN fails every operator but '!=')."""
    observed = observe(threshold.key, threshold.aggregation)
    if observed is None:
        return Verdict(threshold, threshold.allow_no_data, None, "" if threshold.allow_no_data else "no data")
    if _COMPARE[threshold.op](observed, threshold.limit):
        return Verdict(threshold, True, observed, "")
    reason = f"{threshold.aggregation}={short_number(observed)} (limit {threshold.op}{short_number(threshold.limit)})"
    return Verdict(threshold, False, observed, reason)


def evaluate_all(thresholds: Sequence[Threshold], observe: Observe) -> list[Verdict]:
    return [evaluate(threshold, observe) for threshold in thresholds]


def should_abort(verdicts: Sequence[Verdict], elapsed: float) -> Verdict | None:
    """The first failure that stops the run now: abort_on_fail, past its delay, and not for want of data.

    k6 aborts once elapsed > delayAbortEval; we abort at equality too, well inside k6's 2 s evaluation tick.
    """
    for verdict in verdicts:
        threshold = verdict.threshold
        if (
            not verdict.ok
            and verdict.observed is not None
            and threshold.abort_on_fail
            and elapsed >= threshold.delay_abort_eval
        ):
            return verdict
    return None


class AbortWatch:
    """The thresholds marked abort_on_fail, on the live metrics: the first to fail past its delay stops the run."""

    def __init__(self, thresholds: Sequence[Threshold]) -> None:
        self.watched = tuple(t for t in thresholds if t.abort_on_fail)
        self.aborted_by: Verdict | None = None

    @property
    def watching(self) -> bool:
        return bool(self.watched)

    def check(self, observe: Observe, elapsed: float) -> str | None:
        """Why the run stops now, or None; the verdict that stopped it is kept in ``aborted_by``."""
        failed = should_abort(evaluate_all(self.watched, observe), elapsed)
        if failed is None:
            return None
        self.aborted_by = failed
        return f"threshold {failed.threshold.key} {failed.threshold.source} failed"


def said(verdict: Verdict) -> str:
    """``mcp_tool_duration p(95)<3000 failed: p(95)=4.12s``, in the metric's own units."""
    t = verdict.threshold
    info = BUILTIN.get(t.key.name)
    shown = observed(info.type.value if info else "", t.aggregation, verdict.observed)
    return f"{t.key} {t.source} failed: {shown}"


def describe(verdict: Verdict) -> str:
    """``mcp_tool_duration p(95)<3000: p(95)=4120.3 ✗`` for consoles and logs."""
    threshold = verdict.threshold
    shown = "no data" if verdict.observed is None else f"{threshold.aggregation}={short_number(verdict.observed)}"
    mark = "✓" if verdict.ok else "✗"
    return f"{threshold.key} {trim(threshold.source)}: {shown} {mark}"


def threshold_results(verdicts: Iterable[Verdict], aborted_by: Verdict | None) -> list[ThresholdResult]:
    """The final verdicts; the one that aborted the run is shown as it stood when it did."""
    if aborted_by is not None:
        verdicts = [aborted_by if v.threshold == aborted_by.threshold else v for v in verdicts]
    return [
        ThresholdResult(
            metric=str(v.threshold.key),
            expression=v.threshold.source,
            aggregation=v.threshold.aggregation,
            ok=v.ok,
            value=v.observed,
            reason=v.reason,
            abort_on_fail=v.threshold.abort_on_fail,
            aborted_run=aborted_by is not None and aborted_by.threshold == v.threshold,
            allow_no_data=v.threshold.allow_no_data,
        )
        for v in verdicts
    ]
