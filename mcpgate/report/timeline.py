"""How the run evolved, for the job summary: the timeline's points merged into table rows and sparklines.

A long run has thousands of points; a summary shows at most a few dozen rows
and one line of characters per measure, so consecutive points are merged into
longer ones first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mcpgate.results.schema import TimelinePoint, Timeseries
from mcpgate.support.format import count, ms

SPARKS = "▁▂▃▄▅▆▇█"


class Interval(TimelinePoint):
    """Consecutive timeline points merged into one: a point of the results for the longer interval ending at ``t``.

    Its own type only for ``start``: a point begins where the one before it
    ended, but a merged row is read alone (a table row, a character of a
    sparkline), so it carries where it begins. Counts are summed; VUs and p95
    are the worst of the points (exact percentiles of a window would need the
    per-interval histograms; the worst is what a reader looks for). p50, p99
    and the per-tool figures are left out: percentiles do not merge that way.
    """

    start: float

    @property
    def end(self) -> float:
        return self.t


def merge_points(points: Sequence[TimelinePoint], max_rows: int) -> list[Interval]:
    """At most ``max_rows`` intervals, each merging the same number of consecutive points (the last fewer)."""
    if not points or max_rows < 1:
        return []
    per = math.ceil(len(points) / max_rows)
    rows: list[Interval] = []
    start = 0.0
    for i in range(0, len(points), per):
        rows.append(_merged(start, points[i : i + per]))
        start = rows[-1].t
    return rows


def _merged(start: float, group: Sequence[TimelinePoint]) -> Interval:
    end = group[-1].t
    requests = sum(p.requests for p in group)
    p95s = [p.p95 for p in group if p.p95 is not None]
    span = end - start
    return Interval(
        start=start,
        t=end,
        vus=max(p.vus for p in group),
        vus_max=max(p.vus_max for p in group),
        requests=requests,
        rps=requests / span if span > 0 else sum(p.rps for p in group) / len(group),
        failed=sum(p.failed for p in group),
        errors=sum(p.errors for p in group),
        iterations=sum(p.iterations for p in group),
        dropped=sum(p.dropped for p in group),
        p95=max(p95s) if p95s else None,
    )


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, scaled from 0 to the largest; any value above 0 shows above the baseline.

    Missing values (no requests in that interval) show as "·".
    """
    top = max((v for v in values if v is not None), default=0.0)
    chars: list[str] = []
    for v in values:
        if v is None:
            chars.append("·")
        elif v <= 0 or top <= 0:
            chars.append(SPARKS[0])
        else:
            chars.append(SPARKS[min(len(SPARKS) - 1, max(1, math.ceil(v / top * (len(SPARKS) - 1))))])
    return "".join(chars)


def timeline_context(series: Timeseries | None, *, max_rows: int, max_chars: int) -> dict[str, Any] | None:
    """The summary template's ``timeline``: up to ``max_rows`` table rows, sparklines ``max_chars`` wide."""
    if series is None or not series.points:
        return None
    points = series.points
    rows = merge_points(points, max_rows)
    return {
        "interval_s": series.interval_s,
        "points": len(points),
        "per_row": math.ceil(len(points) / max_rows),
        "rows": [_row(r) for r in rows],
        "per_char": math.ceil(len(points) / max_chars),
        "sparklines": _sparklines(points, merge_points(points, max_chars)),
    }


def _row(r: Interval) -> dict[str, Any]:
    return {
        "start": r.start,
        "end": r.end,
        "vus": r.vus,
        "requests": r.requests,
        "rps": r.rps,
        "failed": r.failed,
        "errors": r.errors,
        "iterations": r.iterations,
        "dropped": r.dropped,
        "p95": r.p95,
    }


def _sparklines(points: Sequence[TimelinePoint], spark: Sequence[Interval]) -> list[dict[str, str]]:
    """VUs, req/s, p95 and errors, each a line with a few words on its peak or total."""
    duration = points[-1].t
    requests = sum(p.requests for p in points)
    p95s = [r.p95 for r in spark if r.p95 is not None]
    lines: list[tuple[str, list[float | None], str]] = [
        ("VUs", [float(r.vus) for r in spark], f"peak {max(r.vus for r in spark)}"),
        ("req/s", [r.rps for r in spark], f"peak {max(r.rps for r in spark):.1f}, mean {_rate(requests, duration)}"),
        ("p95", [r.p95 for r in spark], f"worst {ms(max(p95s))}" if p95s else "no data"),
        ("errors", [float(r.errors) for r in spark], f"total {count(sum(p.errors for p in points))}"),
    ]
    return [{"name": name, "line": sparkline(values), "summary": text} for name, values, text in lines]


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:.1f}" if seconds > 0 else "-"
