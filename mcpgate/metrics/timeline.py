"""How a run evolved: one point per interval, for charts, progress lines and drift analysis.

Each tick reads counter deltas and the per-interval HDR histograms that the
tracked trend series keep, merges them per metric and per tool, keeps them
encoded (so later analysis can merge any window of intervals exactly), and
folds each interval into its series' total.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from mcpgate.metrics.catalog import BUILTIN
from mcpgate.metrics.registry import Metrics, TrendSeries, new_histogram

_ERROR_COUNTERS = tuple(name for name in BUILTIN if name.startswith("mcp_errors_"))
_COUNTED = ("http_reqs", "iterations", "dropped_iterations")


@dataclass(slots=True)
class Point:
    t: float  # seconds since the run started, at the end of the interval
    seconds: float  # length of the interval
    vus: int
    vus_max: int
    requests: int
    failed: int  # HTTP requests with no response or a status >= 400
    errors: int  # steps whose outcome was not ok
    iterations: int
    dropped: int
    p50: float | None = None  # http_req_duration in this interval, ms
    p95: float | None = None
    p99: float | None = None
    tools: dict[str, tuple[int, float]] = field(default_factory=dict)  # tool -> (calls, p95 ms)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class Timeline:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.points: list[Point] = []
        self.hdr: dict[str, list[str | None]] = {}  # "http_req_duration", "mcp_tool_duration{tool:x}"
        self._previous: dict[str, float] = {}
        self._last_t = 0.0

    def _delta(self, name: str, total: float) -> int:
        before = self._previous.get(name, 0.0)
        self._previous[name] = total
        return round(total - before)

    def tick(self, t: float, vus: int, vus_max: int) -> Point:
        m = self._metrics
        counts = {name: self._delta(name, m.counter_total(name) or 0.0) for name in _COUNTED}
        errors = self._delta("errors", sum(m.counter_total(name) or 0.0 for name in _ERROR_COUNTERS))
        failed_total = float(m.rate_totals("http_req_failed")[0])
        failed = self._delta("failed", failed_total)
        point = Point(
            t=t,
            seconds=t - self._last_t,
            vus=vus,
            vus_max=vus_max,
            requests=counts["http_reqs"],
            failed=failed,
            errors=errors,
            iterations=counts["iterations"],
            dropped=counts["dropped_iterations"],
        )
        self._last_t = t
        index = len(self.points)
        overall = self._interval("http_req_duration")
        if overall is not None and overall.get_total_count():
            stats = overall.get_percentile_to_value_dict([50.0, 95.0, 99.0])
            point.p50, point.p95, point.p99 = (stats[p] / 1000.0 for p in (50.0, 95.0, 99.0))
            self._keep("http_req_duration", overall, index)
        for tool, hist in self._per_tool().items():
            if hist.get_total_count():
                point.tools[tool] = (hist.get_total_count(), hist.get_value_at_percentile(95.0) / 1000.0)
                self._keep(f"mcp_tool_duration{{tool:{tool}}}", hist, index)
        self.points.append(point)
        return point

    def encoded(self) -> dict[str, list[str | None]]:
        """Each series' interval histograms, aligned with ``points`` (None where it had no samples)."""
        return {key: slots + [None] * (len(self.points) - len(slots)) for key, slots in self.hdr.items()}

    def _keep(self, key: str, hist: HdrHistogram, index: int) -> None:
        slots = self.hdr.setdefault(key, [])
        slots.extend([None] * (index - len(slots)))
        slots.append(hist.encode().decode("ascii"))

    def _tracked(self, name: str) -> list[tuple[dict[str, str], TrendSeries]]:
        found = []
        for (n, tags), series in self._metrics.series.items():
            if n == name and isinstance(series, TrendSeries) and series.interval is not None:
                series.flush()
                found.append((dict(tags), series))
        return found

    def _interval(self, name: str) -> HdrHistogram | None:
        tracked = self._tracked(name)
        if not tracked:
            return None
        merged = new_histogram()
        for _, series in tracked:
            assert series.interval is not None
            if series.interval.get_total_count():
                merged.add(series.interval)
            series.fold()
        return merged

    def _per_tool(self) -> dict[str, HdrHistogram]:
        merged: dict[str, HdrHistogram] = {}
        for tags, series in self._tracked("mcp_tool_duration"):
            assert series.interval is not None
            tool = tags.get("tool", "")
            hist = merged.get(tool)
            if hist is None:
                hist = merged[tool] = new_histogram()
            if series.interval.get_total_count():
                hist.add(series.interval)
            series.fold()
        return merged
