"""``mcpgate merge``: the results files of a run's shards, merged into the results of the run.

The files are named by the user (globs expanded here), read and checked to be
the shards of one run (results.shards), their data added (results.merge) and
the merged run judged as a run is (verdict.judge): a shard that was aborted,
interrupted, did not start or stopped on an internal error makes the merged
run so; otherwise the thresholds, judged on the merged metrics, decide, and
then the baseline and drift, as after a run.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mcpgate.results.merge import combine, results_of
from mcpgate.results.schema import Results, SteadyLoad
from mcpgate.results.shards import ShardFile, check, read_shard
from mcpgate.support.errors import UsageError
from mcpgate.verdict.baseline import with_baseline
from mcpgate.verdict.drift import with_drift
from mcpgate.verdict.judge import judge_shards
from mcpgate.verdict.thresholds import evaluate_all, threshold_results

__all__ = ["Merged", "ShardFile", "expand", "judged", "merge", "merge_files", "read_shard"]


@dataclass
class Merged:
    results: Results
    warnings: list[str] = field(default_factory=list)  # also in the results' notes
    steady_known: bool = False  # the shards' files say what their steady load was (drift can be judged)
    steady: SteadyLoad | None = None


def expand(patterns: Sequence[str], *, base: Path | None = None, skip: Iterable[Path] = ()) -> list[Path]:
    """The files named, with glob patterns expanded (sorted), each once; ``skip`` leaves out our own outputs.

    A pattern is expanded by mcpgate itself, so a quoted ``'shards/*.json'`` works where no shell
    is there to expand it (a Kubernetes container's args, the action's input). With ``base``, every
    name is relative to it and must stay under it (the action's workspace).
    """
    root = base.resolve() if base is not None else None
    skipped = {p.resolve() for p in skip}
    found: list[Path] = []
    seen: set[Path] = set()
    for pattern in patterns:
        for path in _matches(pattern, root, skipped):
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(path)
    return found


def _matches(pattern: str, root: Path | None, skipped: set[Path]) -> list[Path]:
    """The file a name names, or the files a glob matches; UsageError when there is none."""
    if root is not None and (Path(pattern).is_absolute() or ".." in Path(pattern).parts):
        raise UsageError(pattern, "must be a path under the workspace")
    literal = root / pattern if root is not None else Path(pattern)
    if _exists(literal, pattern):
        return [literal]
    if not glob.has_magic(pattern):
        raise UsageError(pattern, "no such file")
    names = sorted(glob.glob(pattern, root_dir=root, recursive=True))
    matches = [(root / n if root is not None else Path(n)) for n in names]
    matches = [m for m in matches if m.resolve() not in skipped and m.is_file()]
    if not matches:
        raise UsageError(pattern, "no results file matches")
    return matches


def _exists(path: Path, shown: str) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError) as exc:  # a name the system refuses: too long, a NUL
        raise UsageError(shown, f"not a valid file name ({getattr(exc, 'strerror', None) or exc})") from None


def merge_files(paths: Sequence[Path], *, allow_missing: bool = False) -> Merged:
    return merge([read_shard(p) for p in paths], allow_missing=allow_missing)


def merge(given: Sequence[ShardFile], *, allow_missing: bool = False) -> Merged:
    """The run whose shards these are, as one results file; the inputs are checked first (``check``)."""
    shards, missing = check(given, allow_missing=allow_missing)
    combined = combine(shards, missing)
    verdicts = evaluate_all(combined.thresholds, combined.metrics.observe)
    status, code, reason = judge_shards(combined.runs, combined.info.count, verdicts)
    results = results_of(combined, status, code, reason, threshold_results(verdicts, None))
    drifts = [s.results.drift for s in shards if s.results.drift is not None]
    steady = drifts[0].steady if drifts else None
    return Merged(results, combined.warnings, steady_known=bool(drifts), steady=steady)


def judged(
    merged: Merged,
    *,
    baseline: Results | None,
    max_regression: float,
    max_drift: float | None,
    window: float | None,
) -> Results:
    """The merged run judged as a run is after its thresholds: against a baseline, then for drift on the
    merged timeline over the steady load every shard ran (the same plan's)."""

    results = merged.results
    if baseline is not None:
        results = with_baseline(results, baseline, max_regression)
    if merged.steady_known:
        results = with_drift(results, merged.steady, max_drift=max_drift, window=window)
    return results
