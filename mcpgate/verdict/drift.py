"""Soak drift: does the server get slower, or fail more, the longer it runs under the same load?

Leaks, growing caches, connection pools that run dry and queues that never
drain all show the same way: under a load that does not change, latency and
errors creep up. So the first and the last window of the run's *steady* load
are compared: p95 of ``http_req_duration`` overall and of
``mcp_tool_duration`` per tool, merged exactly from the timeline's
per-interval HDR histograms, and the HTTP error rate (failed requests /
requests). Ramps are left out, because a latency that rises with the load is
not drift.

The steady load is the longest stretch in which no scenario's load changes:
a ``constant-vus`` or ``constant-arrival-rate`` scenario from start to end, the
flat stages of a ramping one (the soak profile's 10 VUs, the load profile's
5 minutes at 20 VUs), side by side with any other scenario that is flat or
idle at the time. Each window holds the timeline intervals that lie wholly
inside it.

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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from hdrh.histogram import HdrHistogram

from mcpgate.config.models import ConstantArrivalRate, ConstantVus, RampingArrivalRate, RampingVus, Scenario
from mcpgate.metrics.registry import new_histogram
from mcpgate.results.schema import Drift, DriftRow, DriftWindow, Results, ScenarioInfo, SteadyLoad, Timeseries
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


# -- the steady load ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Load:
    """One scenario's load over the run: flat pieces (start, end, level) inside its busy span."""

    name: str
    start: float
    busy_end: float  # its end plus the graceful stop: iterations in flight still run
    pieces: tuple[tuple[float, float, float], ...]
    unit: str  # "VUs" or "iterations/s"; "" when only the scenario's description is known
    label: str = ""

    def level_at(self, t: float) -> float | None:
        """The level at ``t``; 0 outside its span; None where its load is changing."""
        if t < self.start or t > self.busy_end:
            return 0.0
        for start, end, level in self.pieces:
            if start <= t <= end:
                return level
        return None

    def describe(self, level: float) -> str:
        if not self.unit:
            return f"{self.name} ({self.label})" if self.label else self.name
        return f"{self.name} at {level:g} {self.unit}"


def _flat_stages(
    start: float, first: float, stages: Iterable[tuple[float, float]]
) -> tuple[float, tuple[tuple[float, float, float], ...]]:
    """The flat stretches of a piecewise-linear profile (stages of (duration, target)), and its end."""
    pieces: list[tuple[float, float, float]] = []
    t, level = start, first
    for duration, target in stages:
        if duration > 0 and target == level:
            if pieces and pieces[-1][1] == t and pieces[-1][2] == level:
                pieces[-1] = (pieces[-1][0], t + duration, level)  # a jump to the same level changes nothing
            else:
                pieces.append((t, t + duration, level))
        t += duration
        level = target
    return t, tuple(pieces)


def _load(name: str, s: Scenario) -> _Load:
    if isinstance(s, ConstantVus):
        end = s.start_time + s.duration
        return _Load(name, s.start_time, end + s.graceful_stop, ((s.start_time, end, float(s.vus)),), "VUs")
    if isinstance(s, ConstantArrivalRate):
        end = s.start_time + s.duration
        rate = s.rate / s.time_unit
        return _Load(name, s.start_time, end + s.graceful_stop, ((s.start_time, end, rate),), "iterations/s")
    if isinstance(s, RampingVus):
        end, pieces = _flat_stages(s.start_time, float(s.start_vus), ((st.duration, st.target) for st in s.stages))
        return _Load(name, s.start_time, end + s.graceful_stop, pieces, "VUs")
    assert isinstance(s, RampingArrivalRate)
    unit = s.time_unit
    end, pieces = _flat_stages(s.start_time, s.start_rate / unit, ((st.duration, st.target / unit) for st in s.stages))
    return _Load(name, s.start_time, end + s.graceful_stop, pieces, "iterations/s")


def _load_from_info(info: ScenarioInfo) -> _Load:
    """What a saved run's scenario list tells: a constant executor is flat from start to end."""
    end = info.start_time + info.duration
    pieces = ((info.start_time, end, 1.0),) if info.executor in ("constant-vus", "constant-arrival-rate") else ()
    return _Load(info.name, info.start_time, end, pieces, "", info.description)


def _steady(loads: Sequence[_Load]) -> SteadyLoad | None:
    """The longest stretch where no scenario's load changes and at least one runs."""
    cuts = {0.0}
    for load in loads:
        cuts.update((load.start, load.busy_end))
        for start, end, _ in load.pieces:
            cuts.update((start, end))
    edges = sorted(cuts)
    best: tuple[float, float, tuple[float, ...]] | None = None
    current: tuple[float, float, tuple[float, ...]] | None = None
    for a, b in pairwise(edges):
        levels = [load.level_at((a + b) / 2) for load in loads]
        if any(level is None for level in levels) or not any(levels):
            current = None
            continue
        signature = tuple(level or 0.0 for level in levels)
        if current is not None and current[1] == a and current[2] == signature:
            current = (current[0], b, signature)
        else:
            current = (a, b, signature)
        if best is None or current[1] - current[0] > best[1] - best[0]:
            best = current
    if best is None:
        return None
    start, end, signature = best
    running = ", ".join(load.describe(level) for load, level in zip(loads, signature, strict=True) if level)
    return SteadyLoad(start=start, end=end, load=running)


def steady_load(scenarios: Mapping[str, Scenario]) -> SteadyLoad | None:
    """Where the plan's load is constant (None when every scenario ramps all the time)."""
    return _steady([_load(name, s) for name, s in scenarios.items()])


def steady_of(results: Results) -> SteadyLoad | None:
    """The steady load a saved run recorded, or what its scenario list says (files without a drift section)."""
    if results.drift is not None:
        return results.drift.steady
    return _steady([_load_from_info(info) for info in results.scenarios])


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

    def not_judged(note: str, window_s: float | None = None) -> Drift:
        return Drift(judged=False, ok=True, max_drift=max_drift, window_s=window_s, steady=steady, note=note)

    if steady is None:
        return not_judged("the load never held steady: every scenario ramps the whole time")
    if series is None or not series.points:
        return not_judged("the run has no timeline")
    ended = series.points[-1].t
    if steady.start >= ended:
        return not_judged(f"the run ended ({format_duration(round(ended, 3))}) before its steady load began")
    end = min(steady.end, ended)
    width, why = choose_window(end - steady.start, window)
    if width is None:
        return not_judged(why)
    interval = series.interval_s
    if width < interval:
        return not_judged(
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
        return not_judged(f"no whole timeline interval fell inside a {format_duration(width)} window", width)
    last = _Window(tuple(i for i in last.indexes if i not in first.indexes), last.span)
    rows = _rows(series, first.indexes, last.indexes, max_drift)
    drifted = [row for row in rows if row.drifted]
    report = Drift(
        judged=True,
        ok=not drifted,
        max_drift=max_drift,
        window_s=width,
        steady=steady,
        first=first.span,
        last=last.span,
        rows=rows,
    )
    return report.model_copy(update={"reason": failure(report)}) if drifted else report


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
