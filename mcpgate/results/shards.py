"""The shards' results files: one read and told apart from any other file, a set checked to be one run's.

The files must be the shards of one run: the same config (its digest), the
same shard count, the same ``--start-at`` (shards run without one must at
least have run at the same time), each index once. A missing shard is
an error (its part of the load was never measured, so a pass would claim a
load nobody sent) unless ``allow_missing`` lets the merge take what is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
import pydantic

from mcpgate.results.io import read
from mcpgate.results.schema import Results, ShardInfo
from mcpgate.support.errors import UsageError


@dataclass(frozen=True)
class ShardFile:
    """One shard's results file."""

    name: str  # the file, as the user gave it
    results: Results
    index: int  # run.shard.index


def read_shard(path: Path, name: str | None = None) -> ShardFile:
    """One shard's results; any file that is not one is a one-line UsageError naming it."""
    shown = name or str(path)
    results = _read(path, shown)
    shard = results.run.shard
    if shard is None:
        raise UsageError(shown, "is not a shard's results (it was run without --shard I/N)")
    if shard.index is None:
        held = ", ".join(str(i) for i in shard.merged)
        raise UsageError(shown, f"is already a merge (of shards {held}); merge the shards' own files")
    return ShardFile(shown, results, shard.index)


def _read(path: Path, shown: str) -> Results:
    """The file as results; each way it can fail, as one line."""
    try:
        return read(path)
    except FileNotFoundError:
        raise UsageError(shown, "no such file") from None
    except IsADirectoryError:
        raise UsageError(shown, "is a directory") from None
    except OSError as exc:
        raise UsageError(shown, f"cannot read it: {exc.strerror or exc}") from None
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise UsageError(shown, f"not a valid results file ({where}: {first['msg']})") from None
    except orjson.JSONDecodeError as exc:
        raise UsageError(shown, f"not JSON ({exc.args[0] if exc.args else exc})") from None
    except ValueError as exc:  # the schema is not ours
        raise UsageError(shown, str(exc).splitlines()[0]) from None


def check(shards: Sequence[ShardFile], *, allow_missing: bool = False) -> tuple[list[ShardFile], list[int]]:
    """The shards in index order, and the indices missing; UsageError unless they are the shards of one run."""
    if not shards:
        raise UsageError("merge", "no results files given")
    first = shards[0]
    for other in shards[1:]:
        _same_run(first, other)
    info = shard_info(first)
    if info.start_at is None:
        _overlapping(shards)
    by_index: dict[int, ShardFile] = {}
    for shard in shards:
        if shard.index in by_index:
            twin = by_index[shard.index]
            raise UsageError("merge", f"shard {shard.index}/{info.count} is given twice: {twin.name} and {shard.name}")
        by_index[shard.index] = shard
    missing = [i for i in range(info.count) if i not in by_index]
    if missing and not allow_missing:
        given = ", ".join(str(i) for i in sorted(by_index))
        raise UsageError(
            "merge",
            f"{missing_said(missing, info.count)} (given: {given}): merge every shard's file, or pass "
            "--allow-missing to merge what is there",
        )
    return [by_index[i] for i in sorted(by_index)], missing


def _same_run(first: ShardFile, other: ShardFile) -> None:
    """The same shard count, config and ``--start-at`` as the first file, or a UsageError naming both."""
    info, theirs = shard_info(first), shard_info(other)
    if theirs.count != info.count:
        raise UsageError(
            "merge",
            f"not shards of one run: {first.name} is shard {info.index}/{info.count}, "
            f"{other.name} is shard {theirs.index}/{theirs.count}",
        )
    mine, digest = first.results.run.config_digest, other.results.run.config_digest
    if digest != mine:
        raise UsageError(
            "merge",
            f"not shards of one run: {first.name} and {other.name} ran different configs ({mine}, {digest})",
        )
    if theirs.start_at != info.start_at:
        raise UsageError(
            "merge",
            f"not shards of one run: {first.name} started its load at {info.start_at or 'no --start-at'}, "
            f"{other.name} at {theirs.start_at or 'no --start-at'}",
        )


def _overlapping(shards: Sequence[ShardFile]) -> None:
    """Shards without a shared start must at least have run at the same time, or they are two runs."""
    spans: list[tuple[float, float, ShardFile]] = []
    for shard in shards:
        start, end = _when(shard.results.run.started_at), _when(shard.results.run.ended_at)
        if start is None or end is None:
            return
        spans.append((start, end, shard))
    ended = min(spans, key=lambda span: span[1])  # the shard that ended first
    started = max(spans, key=lambda span: span[0])  # the shard that started last
    if started[0] > ended[1]:
        a, b = ended[2], started[2]
        raise UsageError(
            "merge",
            f"not shards of one run: {a.name} ended ({a.results.run.ended_at}) before {b.name} started "
            f"({b.results.run.started_at})",
        )


def _when(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def shard_info(shard: ShardFile) -> ShardInfo:
    """``run.shard`` of a file ``read_shard`` accepted (so it has one)."""
    assert shard.results.run.shard is not None
    return shard.results.run.shard


def missing_said(indices: Sequence[int], count: int) -> str:
    """``shard 2 of 3 is missing`` / ``shards 1, 2 of 3 are missing``."""
    listed = ", ".join(str(i) for i in indices)
    return f"shard {listed} of {count} is missing" if len(indices) == 1 else f"shards {listed} of {count} are missing"
