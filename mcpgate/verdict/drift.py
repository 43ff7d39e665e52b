"""Soak drift: does the server get slower, or fail more, the longer it runs under the same load?

Leaks, growing caches, connection pools that run dry and queues that never
drain all show the same way: under a load that does not change, latency and
errors creep up. So the first and the last window of the run's *steady* load
are compared: p95 of ``http_req_duration`` overall and of
``mcp_tool_duration`` per tool, merged exactly from the timeline's
per-interval HDR histograms, and the HTTP error rate (failed requests /
requests). Ramps are left out, because a latency that rises with the load is
not drift.

The steady load (found in verdict/steady.py) is the longest stretch in which
no scenario's load changes: a ``constant-vus`` or ``constant-arrival-rate``
scenario from start to end, the flat stages of a ramping one, side by side
with any other scenario that is flat or idle at the time. Each window holds
the timeline intervals that lie wholly inside it.

When it is judged: with ``--drift-window`` whenever the steady load holds two
such windows; by default (10-minute windows, a quarter of the steady load for
shorter runs) when each window is at least a minute, so the steady load lasts
4 minutes or more. Otherwise the run says that drift was not judged, and why.

What fails the run (``--max-drift``, default 20%; ``off`` reports without
gating): a p95 that rises by more than the limit *and* by more than 5 ms
(timer and scheduler jitter on a shared CI runner reach a few milliseconds),
or an error rate that rises by more than the limit *and* by more than half a
point. A measure with fewer than 30 samples in either window is shown but not
judged: a p95 of a handful of samples is one outlier.

Every function here is pure: a results file holds the timeline's histograms
and the steady stretch, so ``mcpgate drift results.json`` judges a saved run
again with another window or limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from mcpgate.metrics.registry import new_histogram
from mcpgate.results.schema import Drift, DriftRow, DriftWindow, Results, SteadyLoad, Timeseries
from mcpgate.support import exitcodes
from mcpgate.support.durations import format_duration
from mcpgate.support.format import ms, pct

DEFAULT_MAX_DRIFT = 0.20
DEFAULT_WINDOW = 600.0  # the first and last ten minutes of a soak
WINDOW_SHARE = 0.25  # shorter steady loads: a quarter of it per window
MIN_DEFAULT_WINDOW = 60.0  # below this, drift is only judged when --drift-window asks for it
MIN_SAMPLES = 30  # per window, for a p95 or a rate to be judged
P95_FLOOR_MS = 5.0  # a p95 must also rise by more than this to drift
RATE_FLOOR = 0.005  # an error rate must also rise by more than this (half a point) to drift

OVERALL = "http_req_duration"
TOOL_PREFIX = "mcp_tool_duration{tool:"
ERRORS = "http_req_failed"


# -- the windows --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Window:
    indexes: tuple[int, ...]
    span: DriftWindow


def _window(spans: Sequence[tuple[float, float]], start: float, end: float, slack: float) -> _Window | None:
    """The timeline intervals wholly inside [start, end] (give or take a late tick's ``slack``)."""
    inside = tuple(i for i, (a, b) in enumerate(spans) if a >= start - slack and b <= end + slack)
    if not inside:
        return None
    return _Window(inside, DriftWindow(start=spans[inside[0]][0], end=spans[inside[-1]][1]))


def choose_window(steady_seconds: float, window: float | None) -> tuple[float | None, str]:
    """The window length, or None and why not; ``window`` is what the user set (None: the default)."""
    length = format_duration(round(steady_seconds, 3))
    if window is not None:
        if 2 * window > steady_seconds + 1e-9:
            return None, f"the steady load lasted {length}, less than two {format_duration(window)} windows"
        return window, ""
    chosen = min(DEFAULT_WINDOW, steady_seconds * WINDOW_SHARE)
    if chosen < MIN_DEFAULT_WINDOW:
        needed = format_duration(MIN_DEFAULT_WINDOW / WINDOW_SHARE)
        return None, (
            f"the steady load lasted {length}; drift is judged by default from {needed} of it "
            f"(windows of a quarter, at least {format_duration(MIN_DEFAULT_WINDOW)}); --drift-window sets a window"
        )
    return chosen, ""


# -- the analysis -------------------------------------------------------------------------


def analyze(
    series: Timeseries | None,
    steady: SteadyLoad | None,
    *,
    max_drift: float | None = DEFAULT_MAX_DRIFT,
    window: float | None = None,
) -> Drift:
    """Compare the first and the last window of the steady load; ``max_drift`` None only reports."""
    if steady is None:
        return _Skip("the load never held steady: every scenario ramps the whole time").drift(max_drift, steady)
    if series is None or not series.points:
        return _Skip("the run has no timeline").drift(max_drift, steady)
    chosen = _windows(series, steady, window)
    if isinstance(chosen, _Skip):
        return chosen.drift(max_drift, steady)
    rows = _rows(series, chosen.first.indexes, chosen.last.indexes, max_drift)
    drifted_rows = [row for row in rows if row.drifted]
    report = Drift(
        judged=True,
        ok=not drifted_rows,
        max_drift=max_drift,
        window_s=chosen.width,
        steady=steady,
        first=chosen.first.span,
        last=chosen.last.span,
        rows=rows,
    )
    return report.model_copy(update={"reason": failure(report)}) if drifted_rows else report


@dataclass(frozen=True, slots=True)
class _Windows:
    """The first and the last window of the steady load, each the timeline intervals wholly inside it."""

    width: float
    first: _Window
    last: _Window


@dataclass(frozen=True, slots=True)
class _Skip:
    """Why drift is not judged, and the window length when one was chosen."""

    note: str
    window_s: float | None = None

    def drift(self, max_drift: float | None, steady: SteadyLoad | None) -> Drift:
        return Drift(judged=False, ok=True, max_drift=max_drift, window_s=self.window_s, steady=steady, note=self.note)


def _windows(series: Timeseries, steady: SteadyLoad, window: float | None) -> _Windows | _Skip:
    """The two windows of the steady load the run has a timeline for (it may have ended early)."""
    ended = series.points[-1].t
    if steady.start >= ended:
        return _Skip(f"the run ended ({format_duration(round(ended, 3))}) before its steady load began")
    end = min(steady.end, ended)
    width, why = choose_window(end - steady.start, window)
    if width is None:
        return _Skip(why)
    interval = series.interval_s
    if width < interval:
        return _Skip(
            f"the {format_duration(width)} window is shorter than the timeline's {format_duration(interval)} "
            "interval; set a shorter --interval",
            width,
        )
    spans: list[tuple[float, float]] = []
    previous = 0.0
    for point in series.points:
        spans.append((previous, point.t))
        previous = point.t
    slack = interval / 4
    first = _window(spans, steady.start, steady.start + width, slack)
    last = _window(spans, end - width, end, slack)
    if first is None or last is None:
        return _Skip(f"no whole timeline interval fell inside a {format_duration(width)} window", width)
    last = _Window(tuple(i for i in last.indexes if i not in first.indexes), last.span)
    return _Windows(width, first, last)


def _rows(series: Timeseries, first: Sequence[int], last: Sequence[int], max_drift: float | None) -> list[DriftRow]:
    rows: list[DriftRow] = []
    tools = sorted(key for key in series.hdr if key.startswith(TOOL_PREFIX))
    for key in ([OVERALL] if OVERALL in series.hdr else []) + tools:
        slots = series.hdr[key]
        before, after = _merged(slots, first), _merged(slots, last)
        counts = (before.get_total_count(), after.get_total_count())
        rows.append(_judge(key, "p(95)", (_p95(before), _p95(after)), counts, max_drift))
    points = series.points
    requests = [sum(points[i].requests for i in window) for window in (first, last)]
    failed = [sum(points[i].failed for i in window) for window in (first, last)]
    rates = [f / n if n else None for f, n in zip(failed, requests, strict=True)]
    rows.append(_judge(ERRORS, "rate", (rates[0], rates[1]), (requests[0], requests[1]), max_drift))
    return rows


def _merged(slots: Sequence[str | None], indexes: Iterable[int]) -> HdrHistogram:
    hist = new_histogram()
    for i in indexes:
        encoded = slots[i] if i < len(slots) else None
        if encoded:
            hist.decode_and_add(encoded)
    return hist


def _p95(hist: HdrHistogram) -> float | None:
    if not hist.get_total_count():
        return None
    value: int = min(hist.get_value_at_percentile(95.0), hist.get_max_value())
    return value / 1000.0


def _judge(
    metric: str,
    stat: str,
    values: tuple[float | None, float | None],
    counts: tuple[int, int],
    max_drift: float | None,
) -> DriftRow:
    """One row: judged when each window has enough samples."""
    (first, last), (first_count, last_count) = values, counts
    row = DriftRow(
        metric=metric,
        stat=stat,
        first=first,
        last=last,
        first_count=first_count,
        last_count=last_count,
        judged=False,
    )
    if first is None or last is None or min(first_count, last_count) < MIN_SAMPLES:
        what = "requests" if stat == "rate" else "samples"
        note = f"too few {what} ({first_count} and {last_count}; {MIN_SAMPLES} needed in each window)"
        return row.model_copy(update={"note": note})
    return row.model_copy(update={"judged": True, "drifted": drifted(stat, first, last, max_drift)})


def drifted(stat: str, first: float, last: float, max_drift: float | None) -> bool:
    """Whether a rise from ``first`` to ``last`` passes the limit and the absolute floor."""
    if max_drift is None:
        return False
    floor = RATE_FLOOR if stat == "rate" else P95_FLOOR_MS
    if last - first <= floor:
        return False
    return first == 0 or (last - first) / first > max_drift


def shown(row: DriftRow, value: float | None) -> str:
    return pct(value) if row.stat == "rate" else ms(value)


def change_text(row: DriftRow) -> str:
    """A latency's change in percent; an error rate's in points (from 0%, a percentage says nothing)."""
    if row.stat == "rate":
        if row.first is None or row.last is None:
            return "-"
        return f"{(row.last - row.first) * 100:+.2f} pt"
    change = row.change
    if change is None:
        return "new" if row.first == 0 and row.last else "-"
    return f"{change:+.1%}"


def label(row: DriftRow) -> str:
    return f"{row.metric} {row.stat}"


def failure(report: Drift) -> str:
    """One line: the measure that drifted (a tool's first: it points at the cause), its numbers, the limit."""
    drifted_rows = [row for row in report.rows if row.drifted]
    if not drifted_rows:
        return ""
    ranked = sorted(drifted_rows, key=lambda r: (not r.metric.startswith(TOOL_PREFIX), -_size(r.change)))
    top = ranked[0]
    more = f" (and {len(ranked) - 1} more)" if len(ranked) > 1 else ""
    limit = f"{report.max_drift:.0%}" if report.max_drift is not None else "off"
    window = format_duration(report.window_s or 0.0)
    return (
        f"drift: {label(top)} rose {shown(top, top.first)} -> {shown(top, top.last)} ({change_text(top)}, "
        f"limit {limit}) from the first to the last {window} of steady load{more}"
    )


def _size(change: float | None) -> float:
    return change if change is not None else float("inf")  # None: a rise from nothing


def worst_p95_change(report: Drift | None) -> float | None:
    """The largest relative p95 change among the judged rows (the action's ``drift`` output)."""
    if report is None:
        return None
    changes = [row.change for row in report.rows if row.judged and row.stat == "p(95)" and row.change is not None]
    return max(changes) if changes else None


def with_drift(
    results: Results, steady: SteadyLoad | None, *, max_drift: float | None, window: float | None
) -> Results:
    """Judge drift; drift past the limit turns a passing run into a failed one (exit 99)."""
    try:
        report = analyze(results.timeseries, steady, max_drift=max_drift, window=window)
    except Exception as exc:  # a bug here must not cost a finished run its results
        why = f"internal error in the drift analysis: {type(exc).__name__}: {exc} (please report it)"
        report = Drift(judged=False, ok=True, max_drift=max_drift, steady=steady, note=why)
    update: dict[str, object] = {"drift": report}
    if not report.ok and results.run.status == "passed":
        update["run"] = results.run.model_copy(
            update={"status": "failed", "exit_code": exitcodes.THRESHOLDS_FAILED, "reason": report.reason}
        )
    return results.model_copy(update=update)
