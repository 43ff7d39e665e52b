"""A breakpoint search, shown: each step as it is judged, the console's BREAKPOINT part, the summary's context.

verdict/breakpoint.py judges the steps; this says where the server broke and
why, with the steps nearest the break (a long search keeps the rest in the
results file).
"""

from __future__ import annotations

from typing import Any

from mcpgate.plan.breakpoint import BreakpointPlan
from mcpgate.results.schema import BreakpointResult, BreakpointStep
from mcpgate.support.format import count, ms, pct
from mcpgate.verdict.breakpoint import StepResult

MAX_STEP_ROWS = 40  # a longer search shows its last steps, nearest the break


def _figures(throughput: float, rps: float, p95: float | None, p95_tool: float | None, error_rate: float | None) -> str:
    """A step's figures in a sentence: ``9.7 iterations/s, 29.7 req/s, p95 221ms (tools 232ms), not ok 0%``."""
    tools = f" (tools {ms(p95_tool)})" if p95_tool is not None else ""
    return f"{throughput:.1f} iterations/s, {rps:.1f} req/s, p95 {ms(p95)}{tools}, not ok {pct(error_rate)}"


def step_line(plan: BreakpointPlan, step: StepResult) -> str:
    """A breakpoint step as it is judged, for the progress output."""
    head = f"breakpoint step {step.index + 1}/{len(plan.levels)}: {plan.show(step.level)}"
    if not step.held:
        return f"{head} broke: {step.failures[0].text}"
    return f"{head} held: {_figures(step.throughput, step.rps, step.p95_http, step.p95_tool, step.error_rate)}"


def console_lines(search: BreakpointResult | None) -> list[str]:
    """The console summary's BREAKPOINT part: where it broke and why, then a row per step."""
    if search is None:
        return []
    lines = _outcome(search)
    if search.steps:
        lines.append("")
        lines.extend(_step_table(search))
    return [f"  {row}" if row else "" for row in lines]


def _outcome(search: BreakpointResult) -> list[str]:
    which = f" (step {search.breaking_step} of {len(search.levels)})" if search.breaking_step is not None else ""
    lines = [f"BREAKPOINT  {search.headline or 'no step was judged'}{which}"]
    held = search.row(search.breaking_step)
    if held is not None:
        lines.append(f"  held      {search.show(held.level)}: {_step_figures(held)}")
    broken = search.row(search.broken_step)
    if broken is not None:
        lines.append(f"  broke at  {search.show(broken.level)}: {broken.failures[0].text}")
        lines.extend(f"            {f.text}" for f in broken.failures[1:])
    lines.append(f"  limits    the thresholds on each step alone; {search.limits()}")
    if search.min_breaking_point is not None:
        gate = {True: "passed", False: "FAILED", None: "not judged: the search did not end"}[search.gate_ok]
        lines.append(f"  gate      at least {search.show(search.min_breaking_point)}: {gate}")
    return lines


def _step_figures(s: BreakpointStep) -> str:
    return _figures(s.throughput, s.rps, s.p95_http_ms, s.p95_tool_ms, s.error_rate)


def _step_table(search: BreakpointResult) -> list[str]:
    """The last ``MAX_STEP_ROWS`` steps, the breaking point marked."""
    lines = []
    shown = search.steps[-MAX_STEP_ROWS:]
    if len(shown) < len(search.steps):
        lines.append(f"    ({len(search.steps) - len(shown)} earlier steps held; the results file has them)")
    width = max(len("level"), *(len(search.show(s.level, short=True)) for s in shown))
    lines.append(
        f"    {'step':>4}  {'level':<{width}}  {'it/s':>7}  {'req/s':>8}  {'p95':>8}  {'p95 tool':>8}  "
        f"{'not ok':>7}  {'dropped':>7}"
    )
    lines.extend(_step_row(search, s, width) for s in shown)
    return lines


def _step_row(search: BreakpointResult, s: BreakpointStep, width: int) -> str:
    mark = "✓" if s.held else "✗"
    level = search.show(s.level, short=True)
    cut = " (cut short)" if s.partial else ""
    point = "  ← breaking point" if s.step == search.breaking_step and search.found else ""
    return (
        f"  {mark} {s.step:>4}  {level:<{width}}  {s.throughput:>7.1f}  {s.rps:>8.1f}  {ms(s.p95_http_ms):>8}  "
        f"{ms(s.p95_tool_ms):>8}  {pct(s.error_rate):>7}  {count(s.dropped):>7}{point}{cut}"
    )


def judged_at(search: BreakpointResult | None) -> str:
    """For a search: which step's verdicts the thresholds show (each step is judged alone)."""
    if search is None:
        return ""
    step = search.row(search.breaking_step or search.broken_step)
    if step is None:
        return ""
    return f"; judged on each step alone, shown for step {step.step}: {search.show(step.level)}"


def breakpoint_context(search: BreakpointResult | None, *, max_rows: int) -> dict[str, Any] | None:
    """The summary template's ``breakpoint``: the outcome, and the last ``max_rows`` steps."""
    if search is None:
        return None
    rows = [_context_row(search, s) for s in search.steps[-max_rows:]]
    held = search.row(search.breaking_step)
    broken = search.row(search.broken_step)
    shown = search.row(search.breaking_step or search.broken_step)
    return {
        "headline": search.headline or "no step was judged",
        "found": search.found,
        "complete": search.complete,
        "reason": search.reason,
        "ladder": search.ladder(),
        "limits": search.limits(),
        "held": None if held is None else _held(search, held),
        "broke": None
        if broken is None
        else {"step": broken.step, "level": search.show(broken.level), "failures": [f.text for f in broken.failures]},
        "gate": None
        if search.min_breaking_point is None
        else {"minimum": search.show(search.min_breaking_point), "ok": search.gate_ok},
        "shown": None if shown is None else {"step": shown.step, "level": search.show(shown.level)},
        "rows": rows,
        "omitted": len(search.steps) - len(rows),
    }


def _held(search: BreakpointResult, held: BreakpointStep) -> dict[str, Any]:
    return {
        "step": held.step,
        "level": search.show(held.level),
        "throughput": held.throughput,
        "rps": held.rps,
        "p95": held.p95_http_ms,
        "p95_tool": held.p95_tool_ms,
        "error_rate": held.error_rate,
    }


def _context_row(search: BreakpointResult, s: BreakpointStep) -> dict[str, Any]:
    return {
        "mark": "✓" if s.held else "✗",
        "step": s.step,
        "level": search.show(s.level),
        "throughput": s.throughput,
        "rps": s.rps,
        "p95": s.p95_http_ms,
        "p95_tool": s.p95_tool_ms,
        "error_rate": s.error_rate,
        "dropped": s.dropped,
        "held": s.held,
        "partial": s.partial,
        "breaking": search.found and s.step == search.breaking_step,
    }
