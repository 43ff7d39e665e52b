"""File descriptors: a run needs about one per connection, so it raises its own limit first.

Many systems start processes with a soft ``RLIMIT_NOFILE`` of 1024 while the hard limit is far
higher; 1,000 VUs holding streams would then fail with "too many open files" halfway through a
ramp. A process may raise its soft limit up to the hard one, and worker processes inherit it.
When even the hard limit is too low, the run says so in one line, with the fix, instead of
failing connections later under load.
"""

from __future__ import annotations

import math
import resource

RESERVE = 64  # the event loop, worker pipes, results and log files, a margin
PER_VU = 2  # a kept-alive request connection, and a held stream (the GET stream or legacy SSE)


def needed(vus: int, workers: int) -> int:
    """File descriptors the busiest process of a run may hold: its share of the VUs, two each."""
    share = math.ceil(vus / max(1, workers))
    return PER_VU * share + RESERVE


def raise_nofile(want: int) -> str | None:
    """Raise the soft limit towards ``want``; a note (what is needed, what is allowed, the fix) if it falls short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= want:
        return None
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target >= want:
        return None
    return (
        f"file descriptors: a process of this run may need {want:,} and may open {target:,} "
        f"(hard limit {hard:,}); raise it (ulimit -n {want}, docker run --ulimit nofile={want}) "
        "or spread the VUs over machines with --shard"
    )
