"""Compare a run with a baseline run: the weekly regression check the seed guide asks for.

Both sides are results files, so any two saved runs compare. For each latency
that both runs measured (overall and per tool: p95 and p99), for the error
rates, and for throughput, the change is computed and judged against
``max_regression`` (a fraction, 0.20 = 20%). Latencies and error rates
regress when they grow; throughput when it falls. Small absolute changes
never count, however large in relative terms: a latency must also grow by
``LATENCY_FLOOR_MS`` (0.4 ms -> 0.6 ms is runner noise, not "+50%"), and an
error rate by ``RATE_FLOOR`` (0.01% -> 0.02% is not a "100% regression").
Differences that make the comparison less telling (another config, another
target, a baseline that did not pass, a tool measured only before) are notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcpgate.results.schema import BaselineComparison, BaselineDelta, Results
from mcpgate.support import exitcodes
from mcpgate.support.format import ms, pct

DEFAULT_MAX_REGRESSION = 0.20
RATE_FLOOR = 0.001  # an error rate must also grow by this much (0.1 point) to count as a regression
LATENCY_FLOOR_MS = 1.0  # a latency must also grow by this much to count as a regression

_LATENCIES = ("mcp_tool_duration", "http_req_duration", "mcp_init_duration", "mcp_discover_duration")
_RATES = ("http_req_failed", "mcp_tool_errors")


def shown(delta: BaselineDelta, value: float) -> str:
    """A value in the delta's own units: a latency in ms, an error rate in percent, throughput per second."""
    if delta.kind == "latency":
        return ms(value)
    if delta.kind == "errors":
        return pct(value)
    return f"{value:.1f}/s"


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline_started: str
    current_started: str
    max_regression: float
    deltas: tuple[BaselineDelta, ...]
    notes: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[BaselineDelta]:
        return [d for d in self.deltas if d.regressed]

    @property
    def ok(self) -> bool:
        return not self.regressions

    def reason(self) -> str:
        worst = self.regressions
        if not worst:
            return ""
        first = max(worst, key=lambda d: math.inf if d.change is None else abs(d.change))
        change = f"{first.change:+.0%}" if first.change is not None else "from 0"
        more = f" (and {len(worst) - 1} more)" if len(worst) > 1 else ""
        return (
            f"regression against the baseline: {first.metric} {first.stat} {shown(first, first.baseline)} -> "
            f"{shown(first, first.current)} ({change}, limit {self.max_regression:.0%}){more}"
        )


def compare(baseline: Results, current: Results, max_regression: float = DEFAULT_MAX_REGRESSION) -> Comparison:
    deltas: list[BaselineDelta] = []
    for key in sorted(current.metrics):
        if not _compared(key):
            continue
        name = key.partition("{")[0]
        if name in _LATENCIES:
            for stat in ("p(95)", "p(99)"):
                delta = _delta(baseline, current, key, stat, kind="latency", limit=max_regression)
                if delta is not None:
                    deltas.append(delta)
        elif name in _RATES:
            delta = _delta(baseline, current, key, "rate", kind="errors", limit=max_regression)
            if delta is not None:
                deltas.append(delta)
    throughput = _delta(baseline, current, "http_reqs", "rate", kind="throughput", limit=max_regression)
    if throughput is not None:
        deltas.append(throughput)
    return Comparison(
        baseline.run.started_at, current.run.started_at, max_regression, tuple(deltas), _notes(baseline, current)
    )


def _compared(key: str) -> bool:
    """Per metric and per tool, as the seed's weekly check reads them."""
    name, _, tags = key.partition("{")
    if tags and not tags.startswith("tool:"):
        return False
    return name in _LATENCIES or name in _RATES


def _notes(baseline: Results, current: Results) -> tuple[str, ...]:
    notes: list[str] = []
    if baseline.run.status != "passed":
        notes.append(f"the baseline run did not pass (status {baseline.run.status})")
    if baseline.run.config_digest and current.run.config_digest != baseline.run.config_digest:
        notes.append("the baseline ran another config (its digest differs): the load may not be the same")
    if baseline.target.url != current.target.url:
        notes.append(f"the baseline measured another target ({baseline.target.url})")
    gone = sorted(k for k in baseline.metrics if _compared(k) and k not in current.metrics)
    if gone:
        notes.append("measured in the baseline only: " + ", ".join(gone))
    return tuple(notes)


def _delta(
    baseline: Results, current: Results, key: str, stat: str, *, kind: str, limit: float
) -> BaselineDelta | None:
    before, after = baseline.metric(key, stat), current.metric(key, stat)
    if before is None or after is None:
        return None
    if kind == "throughput":
        regressed = before > 0 and (before - after) / before > limit
    elif kind == "errors":
        regressed = after - before > RATE_FLOOR and (before == 0 or (after - before) / before > limit)
    else:
        regressed = before > 0 and (after - before) / before > limit and after - before > LATENCY_FLOOR_MS
    return BaselineDelta(metric=key, stat=stat, kind=kind, baseline=before, current=after, regressed=regressed)


def with_baseline(results: Results, baseline: Results, max_regression: float) -> Results:
    """Compare with an earlier run; a regression turns a passing run into a failed one (exit 99)."""
    comparison = compare(baseline, results, max_regression)
    section = BaselineComparison(
        baseline_started=comparison.baseline_started,
        max_regression=max_regression,
        ok=comparison.ok,
        deltas=list(comparison.deltas),
        notes=list(comparison.notes),
    )
    update: dict[str, object] = {"baseline": section}
    if not comparison.ok and results.run.status == "passed":
        run = results.run.model_copy(
            update={"status": "failed", "exit_code": exitcodes.THRESHOLDS_FAILED, "reason": comparison.reason()}
        )
        update["run"] = run
    return results.model_copy(update=update)
