"""``--start-at``: one instant at which every shard of a run starts its load.

Shards on different machines start their processes whenever their runner or pod
gets to them; each makes its preflight session, then waits for the shared
instant, so their schedules (and timelines: t = 0 at that instant) line up and
the merged run is the plan. The instant is wall-clock time (ISO 8601 with a
zone, or unix seconds): machines keep it in step with NTP, to a few
milliseconds.

A start already past when the flag is read is refused if it is more than
``MAX_LATE`` ago (that shard would run minutes off its siblings, and the merged
peak would be no one's plan); a start up to that late, or one that passes
during the preflight, begins at once and the shard notes its lag. A start more
than ``MAX_AHEAD`` ahead is refused too: a typo, not a plan.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from mcpgate.support.durations import format_duration

MAX_AHEAD = 24 * 3600.0  # seconds: the longest a process will wait for its start
MAX_LATE = 60.0  # seconds: a start further past than this is refused
LATE_NOTE = 0.1  # seconds: a load that starts later than this after the instant says so

_UNIX = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
_HINT = "expected an ISO 8601 time with a zone, e.g. 2026-11-26T10:00:00Z, or unix seconds"


def parse_start_at(text: str, now: float) -> float:
    """Unix seconds for ``text``; ValueError (one line, fit for the user) when it cannot be a shared start.

    ``now`` is the current unix time: the bounds are judged against it.
    """
    raw = text.strip()
    if _UNIX.fullmatch(raw):
        when = float(raw)
    else:
        try:
            moment = datetime.fromisoformat(raw)
        except (ValueError, OverflowError):
            raise ValueError(f"{_HINT}, got {text!r}") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(
                f"{raw} has no zone: add Z (UTC) or an offset such as +01:00, so every shard reads the same instant"
            )
        try:
            when = moment.timestamp()
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"{_HINT}, got {text!r}") from None
    if not math.isfinite(when):
        raise ValueError(f"{_HINT}, got {text!r}")
    ahead = when - now
    if ahead < -MAX_LATE:
        raise ValueError(
            f"{iso(when)} was {format_duration(round(-ahead))} ago: a shared start must be ahead of every shard "
            f"(one at most {format_duration(MAX_LATE)} late starts at once)"
        )
    if ahead > MAX_AHEAD:
        raise ValueError(f"{iso(when)} is {format_duration(round(ahead))} ahead; at most {format_duration(MAX_AHEAD)}")
    return when


def iso(epoch: float) -> str:
    """``2026-11-26T10:00:00.000Z``: the form results files use for times."""
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (ValueError, OverflowError, OSError):  # beyond the calendar: only in an error message
        return f"{epoch:.0f} (unix seconds)"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
