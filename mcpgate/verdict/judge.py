"""The run's verdict, in one place: status, exit code and one line of reason.

A run, a merge of shards and a breakpoint search are all judged here, in the
same order: a crash, a signal, a load that never started, an abort, then a
search's conclusion or the thresholds. A baseline and drift may then turn a
passing run into a failed one (baseline.py, drift.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mcpgate.results.schema import ShardRun, Status
from mcpgate.support import exitcodes
from mcpgate.verdict.breakpoint import Conclusion, StepResult
from mcpgate.verdict.thresholds import Verdict, said

Judged = tuple[Status, int, str]

# A shard in one of these states makes the merged run so, in this order (as a run's own verdict
# puts an internal error before an interrupt, and that before a run that never started).
_PRECEDENCE: tuple[Status, ...] = ("error", "interrupted", "not_started", "aborted")
_CODES: dict[Status, int] = {
    "error": exitcodes.INTERNAL_ERROR,
    "interrupted": exitcodes.INTERRUPTED,
    "aborted": exitcodes.THRESHOLDS_FAILED,
}
_SAID: dict[Status, str] = {
    "error": "stopped on an internal error",
    "interrupted": "was interrupted",
    "not_started": "did not start",
    "aborted": "was aborted",
}


@dataclass(frozen=True)
class RunState:
    """What happened to a run, as far as its verdict is concerned."""

    crash: Exception | None = None  # a bug stopped the run; what was measured is kept
    interrupted: bool = False  # a signal stopped it
    load_started: bool = False  # the load began (not only the preflight)
    engine_ran: bool = False  # the engine was started, at all
    preflight_ok: bool = True
    preflight_code: int = exitcodes.OK
    preflight_reason: str = ""
    aborted_by: Verdict | None = None  # the abort_on_fail threshold that stopped the run


def judge(state: RunState, verdicts: Sequence[Verdict], search: Conclusion | None = None) -> Judged:
    """The run's status, exit code and reason."""
    if state.crash is not None:
        why = f"internal error: {type(state.crash).__name__}: {state.crash} (please report it)"
        return "error", exitcodes.INTERNAL_ERROR, why
    if state.interrupted:
        stage = "during the load" if state.load_started else "before the load started"
        return "interrupted", exitcodes.INTERRUPTED, f"stopped by a signal (SIGINT or SIGTERM) {stage}"
    if not state.preflight_ok or not state.engine_ran:
        return "not_started", state.preflight_code, state.preflight_reason
    if state.aborted_by is not None:
        return "aborted", exitcodes.THRESHOLDS_FAILED, f"{said(state.aborted_by)}, so the run was stopped"
    if search is not None:  # finding the breaking point is the job: only no step held, or a capacity gate, fails it
        if (search.broke is not None and search.held is None) or search.gate_ok is False:
            return "failed", exitcodes.THRESHOLDS_FAILED, search.reason
        return "passed", exitcodes.OK, search.reason
    return threshold_verdict(verdicts)


def threshold_verdict(verdicts: Sequence[Verdict]) -> Judged:
    """Passed, or failed (99) naming the first threshold that failed; a merge of shards judges the same way."""
    failed = [v for v in verdicts if not v.ok]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return "failed", exitcodes.THRESHOLDS_FAILED, f"{said(failed[0])}{more}"
    return "passed", exitcodes.OK, ""


def judge_shards(runs: Sequence[ShardRun], count: int, verdicts: Sequence[Verdict]) -> Judged:
    """A merge of shards: a shard that was aborted, interrupted, did not start or stopped on an internal
    error makes the merged run so, naming that shard; otherwise the thresholds on the merged metrics decide."""
    for status in _PRECEDENCE:
        hit = [r for r in runs if r.status == status]
        if not hit:
            continue
        first = hit[0]
        code = _CODES.get(status, first.exit_code)
        if len(hit) == 1:
            why = f"shard {first.index}/{count} {_SAID[status]}" + (f": {first.reason}" if first.reason else "")
        else:
            names = ", ".join(str(r.index) for r in hit)
            why = f"shards {names} of {count} {_SAID[status].replace('was ', 'were ')}"
            why += f" (shard {first.index}: {first.reason})" if first.reason else ""
        return status, code, why
    return threshold_verdict(verdicts)


def shown_step(search: Conclusion) -> StepResult:
    """The step whose thresholds a search reports: its breaking point, or the first step when none held."""
    shown = search.held or search.broke
    assert shown is not None, "a search with judged steps has held or broken one"
    return shown
