"""Compare a run with a baseline run: the weekly regression check the seed guide asks for.

Both sides are results files, so any two saved runs compare. For each latency
that both runs measured (overall and per tool: p95 and p99), for the error
rates, and for throughput, the change is computed and judged against
``max_regression`` (a fraction, 0.20 = 20%). Latencies and error rates
regress when they grow; throughput when it falls. A rate that grows from
nearly nothing is judged in absolute terms too, so 0.01% -> 0.02% is not a
"100% regression".
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpgate.report.format import ms, pct
from mcpgate.results import Results

DEFAULT_MAX_REGRESSION = 0.20
RATE_FLOOR = 0.001  # an error rate must also grow by this much (0.1 point) to count as a regression

_LATENCIES = ("mcp_tool_duration", "http_req_duration", "mcp_init_duration", "mcp_discover_duration")
_RATES = ("http_req_failed", "mcp_tool_errors")


@dataclass(frozen=True, slots=True)
class Delta:
    metric: str  # a metric key, e.g. "mcp_tool_duration{tool:get_record}"
    stat: str  # "p(95)", "rate", ...
    kind: str  # "latency" | "errors" | "throughput"
    baseline: float
    current: float
    regressed: bool

    @property
    def change(self) -> float | None:
        """Relative change, current against baseline; None when the baseline is 0."""
        if self.baseline == 0:
            return None if self.current else 0.0
        return (self.current - self.baseline) / self.baseline

    def shown(self, value: float) -> str:
        if self.kind == "latency":
            return ms(value)
        if self.kind == "errors":
            return pct(value)
        return f"{value:.1f}/s"


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline_started: str
    current_started: str
    max_regression: float
    deltas: tuple[Delta, ...]

    @property
    def regressions(self) -> list[Delta]:
        return [d for d in self.deltas if d.regressed]

    @property
    def ok(self) -> bool:
        return not self.regressions

    def reason(self) -> str:
        worst = self.regressions
        if not worst:
            return ""
        first = worst[0]
        change = f"{first.change:+.0%}" if first.change is not None else "from 0"
        more = f" (and {len(worst) - 1} more)" if len(worst) > 1 else ""
        return (
            f"regression against the baseline: {first.metric} {first.stat} {first.shown(first.baseline)} -> "
            f"{first.shown(first.current)} ({change}, limit {self.max_regression:.0%}){more}"
        )


def compare(baseline: Results, current: Results, max_regression: float = DEFAULT_MAX_REGRESSION) -> Comparison:
    deltas: list[Delta] = []
    for key in sorted(current.metrics):
        name, _, tags = key.partition("{")
        if tags and not tags.startswith("tool:"):
            continue  # per metric and per tool, as the seed's weekly check reads them
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
    return Comparison(baseline.run.started_at, current.run.started_at, max_regression, tuple(deltas))


def _delta(baseline: Results, current: Results, key: str, stat: str, *, kind: str, limit: float) -> Delta | None:
    before, after = baseline.metric(key, stat), current.metric(key, stat)
    if before is None or after is None:
        return None
    if kind == "throughput":
        regressed = before > 0 and (before - after) / before > limit
    elif kind == "errors":
        regressed = after - before > RATE_FLOOR and (before == 0 or (after - before) / before > limit)
    else:
        regressed = before > 0 and (after - before) / before > limit
    return Delta(key, stat, kind, before, after, regressed)


def render_text(comparison: Comparison) -> str:
    head = "no regression" if comparison.ok else f"{len(comparison.regressions)} regression(s)"
    lines = [
        f"compared with the baseline from {comparison.baseline_started}: {head} (limit {comparison.max_regression:.0%})"
    ]
    width = max((len(f"{d.metric} {d.stat}") for d in comparison.deltas), default=10)
    for d in comparison.deltas:
        mark = "✗" if d.regressed else "✓"
        change = f"{d.change:+.1%}" if d.change is not None else "new"
        label = f"{d.metric} {d.stat}"
        lines.append(f"  {mark} {label:<{width}}  {d.shown(d.baseline):>9} -> {d.shown(d.current):>9}  {change:>8}")
    return "\n".join(lines)


def render_markdown(comparison: Comparison) -> str:
    head = "no regression" if comparison.ok else f"**{len(comparison.regressions)} regression(s)**"
    lines = [
        "### Compared with the baseline",
        "",
        f"Baseline from {comparison.baseline_started}: {head} (limit {comparison.max_regression:.0%}).",
        "",
        "| | metric | baseline | now | change |",
        "|---|---|---:|---:|---:|",
    ]
    for d in comparison.deltas:
        change = f"{d.change:+.1%}" if d.change is not None else "new"
        metric = d.metric.replace("|", "\\|")
        lines.append(
            f"| {'✗' if d.regressed else '✓'} | `{metric}` {d.stat} | {d.shown(d.baseline)} | "
            f"{d.shown(d.current)} | {change} |"
        )
    return "\n".join(lines) + "\n"
