"""The results file (``"schema": "mcpgate/results/v1"``): written by every run, read by every report.

Everything a report shows is in here, so ``mcpgate report`` can render any
saved run again, and every trend carries its HDR histogram (HdrHistogram's
standard compressed base64) so runs from several processes or machines can be
merged exactly later. Secrets never enter: every string that came from the
server or the config passes through the run's redactor first.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mcpgate.metrics.catalog import MetricType
from mcpgate.support.durations import format_duration

SCHEMA = "mcpgate/results/v1"
Status = Literal["passed", "failed", "aborted", "interrupted", "not_started", "error"]

TREND_STATS = ("count", "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")
PHASE_ORDER = (
    "sse/connect",
    "initialize",
    "notifications/initialized",
    "sse/listen",
    "server/discover",
    "tools/list",
    "tools/call",
    "session/delete",
)


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class MetricEntry(_Model):
    type: MetricType
    unit: str = ""
    values: dict[str, float]
    hdr: str | None = None  # trends only


class ThresholdResult(_Model):
    metric: str
    expression: str
    aggregation: str
    ok: bool
    value: float | None
    reason: str = ""
    abort_on_fail: bool = False
    aborted_run: bool = False
    allow_no_data: bool = False  # so a merge of shards judges the threshold as the run did


class ErrorSample(_Model):
    reason: str
    method: str
    tool: str | None = None
    count: int


class ErrorClass(_Model):
    kind: str = Field(alias="class")
    count: int
    samples: list[ErrorSample]
    other: int = 0  # occurrences whose reasons were not kept


class Latency(_Model):
    """One row of the per-phase or per-tool tables."""

    name: str
    count: int
    errors: int
    p50: float
    p95: float
    p99: float
    avg: float
    max: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


class SeriesEntry(_Model):
    """One metric with one full tag set: the raw material for exact merges."""

    metric: str
    tags: dict[str, str]
    type: MetricType
    values: dict[str, float]
    hdr: str | None = None


class TimelinePoint(_Model):
    t: float
    vus: int
    vus_max: int
    requests: int
    rps: float
    failed: int
    errors: int
    iterations: int
    dropped: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    tools: dict[str, tuple[int, float]] = Field(default_factory=dict)


class Timeseries(_Model):
    interval_s: float
    points: list[TimelinePoint]
    hdr: dict[str, list[str | None]] = Field(default_factory=dict)


class ScenarioInfo(_Model):
    name: str
    executor: str
    description: str
    max_vus: int
    start_time: float
    duration: float


class TargetInfo(_Model):
    url: str
    transport: str | None = None
    protocol_version: str | None = None
    server_info: dict[str, Any] | None = None
    chosen: str = ""
    tools: list[str] = Field(default_factory=list)
    capabilities: dict[str, Any] | None = None  # as the server's initialize (or discover) result gave them
    instructions: str | None = None
    unexercised: list[str] = Field(default_factory=list)  # offered capabilities no method the run sent used


class ShardRun(_Model):
    """One shard of a merged run, as its own results file said it went."""

    index: int
    status: Status
    exit_code: int
    reason: str = ""
    started_at: str = ""
    duration_s: float = 0.0
    workers: int = 1
    lag_s: float = 0.0


class ShardInfo(_Model):
    """``run.shard``: a shard's part of a run (``--shard I/N``), or, merged, the shards it holds."""

    index: int | None = None  # None: the merge of the shards in ``merged``
    count: int
    start_at: str | None = None  # the instant every shard's load starts (--start-at): t = 0 of the timeline
    lag_s: float = 0.0  # how late this shard's load started after start_at
    merged: list[int] = Field(default_factory=list)
    missing: list[int] = Field(default_factory=list)  # shards a merge did not have (--allow-missing)
    runs: list[ShardRun] = Field(default_factory=list)


class RunInfo(_Model):
    status: Status
    exit_code: int
    reason: str = ""
    started_at: str
    ended_at: str
    duration_s: float
    profile: str | None = None
    source: str = ""
    config_digest: str = ""
    mcpgate_version: str = ""
    interrupted_iterations: int = 0
    workers: int = 1  # generator processes the load ran in
    notes: list[str] = Field(default_factory=list)
    shard: ShardInfo | None = None  # --shard, or a merge of shards


class BaselineDelta(_Model):
    """One measure compared with the baseline run."""

    metric: str  # a metric key, e.g. "mcp_tool_duration{tool:get_record}"
    stat: str  # "p(95)", "rate", ...
    kind: str  # "latency" | "errors" | "throughput"
    baseline: float
    current: float
    regressed: bool

    @property
    def change(self) -> float | None:
        """Relative change, current against baseline; None when the baseline is 0."""
        if self.baseline == 0:
            return None if self.current else 0.0
        return (self.current - self.baseline) / self.baseline


class BaselineComparison(_Model):
    baseline_started: str
    max_regression: float
    ok: bool
    deltas: list[BaselineDelta]
    notes: list[str] = Field(default_factory=list)


class SteadyLoad(_Model):
    """The stretch of the run whose load was constant: where drift is measured."""

    start: float  # seconds since the run started
    end: float
    load: str  # what ran at a constant level, e.g. "soak at 10 VUs"


class DriftWindow(_Model):
    start: float  # the span the window's whole timeline intervals cover, in seconds since the run started
    end: float


class DriftRow(_Model):
    """One measure compared between the first and the last window of steady load."""

    metric: str  # "http_req_duration", "mcp_tool_duration{tool:x}", "http_req_failed"
    stat: str  # "p(95)" (ms) or "rate" (a fraction)
    first: float | None
    last: float | None
    first_count: int  # samples (requests, for the rate) in each window
    last_count: int
    judged: bool
    drifted: bool = False
    note: str = ""  # why the row was not judged

    @property
    def change(self) -> float | None:
        """Relative change from the first window to the last; None when it cannot be said."""
        if self.first is None or self.last is None:
            return None
        if self.first == 0:
            return 0.0 if self.last == 0 else None
        return (self.last - self.first) / self.first


class Drift(_Model):
    judged: bool  # both windows were formed; rows say which measures had enough samples
    ok: bool  # no row drifted past the limit
    max_drift: float | None  # None: reported, not gated
    window_s: float | None = None
    steady: SteadyLoad | None = None
    first: DriftWindow | None = None
    last: DriftWindow | None = None
    rows: list[DriftRow] = Field(default_factory=list)
    note: str = ""  # why drift was not judged
    reason: str = ""  # the failure, when it drifted past the limit


class BreakpointFailure(_Model):
    kind: str  # "threshold", "errors", "dropped" or "idle"
    what: str
    value: float | None = None
    limit: float | None = None
    text: str


class BreakpointStep(_Model):
    """One step of a breakpoint search, judged on its own samples."""

    step: int  # 1-based
    level: float  # iterations/s, or VUs
    start_s: float
    duration_s: float  # the window judged
    held: bool
    partial: bool = False  # cut short: an abort_on_fail threshold failed on the step so far
    iterations: int
    throughput: float  # iterations completed per second
    requests: int
    rps: float
    p95_http_ms: float | None = None
    p95_tool_ms: float | None = None
    error_rate: float | None = None  # MCP steps not ok
    failed_rate: float | None = None  # http_req_failed
    dropped: int = 0
    scheduled: int | None = None  # arrival: iterations the schedule started in the step
    vus: int | None = None  # the most VUs active at a timeline point in the step
    failures: list[BreakpointFailure] = Field(default_factory=list)
    thresholds: list[ThresholdResult] = Field(default_factory=list)


class BreakpointResult(_Model):
    """The breakpoint search: the steps as judged, and where the server broke."""

    executor: Literal["arrival", "vus"]
    unit: str  # "iterations/s" or "VUs"
    start: float
    step: float
    max: float
    step_duration_s: float
    max_error_rate: float
    max_dropped_rate: float = 0.0
    max_vus: int = 0
    levels: list[float]
    breaking_point: float | None = None  # the level of the last step that held (None: none held)
    breaking_step: int | None = None  # that step (1-based)
    broken_step: int | None = None  # the first step that did not hold
    rate: float | None = None  # iterations/s at the breaking point: the level (arrival) or as measured (vus)
    found: bool = False  # a step broke after one held
    complete: bool = False  # a step broke, or every level held
    headline: str = ""  # "120 iterations/s", "not reached up to 200 iterations/s", "below 10 iterations/s"
    reason: str = ""
    min_breaking_point: float | None = None
    gate_ok: bool | None = None
    steps: list[BreakpointStep] = Field(default_factory=list)

    def show(self, level: float, *, short: bool = False) -> str:
        """``120 iterations/s`` (``120/s`` short), ``40 VUs``, ``1 VU``."""
        if self.executor == "arrival":
            return f"{level:g}/s" if short else f"{level:g} iterations/s"
        return f"{level:g} VU" + ("" if level == 1 else "s")

    def ladder(self) -> str:
        """``arrival rate 10 to 200 iterations/s, +10 every 30s (20 steps)``."""
        kind = "arrival rate" if self.executor == "arrival" else "VUs"
        top = self.levels[-1] if self.levels else self.max
        steps = len(self.levels)
        climb = f", +{self.step:g} every {format_duration(self.step_duration_s)}" if steps > 1 else ""
        return f"{kind} {self.start:g} to {self.show(top)}{climb} ({steps} step{'s' if steps != 1 else ''})"

    def limits(self) -> str:
        """What breaks a step besides the thresholds."""
        text = f"failed requests or MCP steps above {_percent(self.max_error_rate)}"
        if self.executor == "arrival":
            dropped = "any" if self.max_dropped_rate == 0 else f"more than {_percent(self.max_dropped_rate)}"
            text += f", {dropped} dropped iterations (up to {self.max_vus:,} VUs)"
        return text

    def row(self, number: int | None) -> BreakpointStep | None:
        return next((s for s in self.steps if s.step == number), None)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


class Results(_Model):
    schema_id: str = Field(SCHEMA, alias="schema")
    run: RunInfo
    target: TargetInfo
    scenarios: list[ScenarioInfo] = Field(default_factory=list)
    thresholds: list[ThresholdResult] = Field(default_factory=list)
    metrics: dict[str, MetricEntry] = Field(default_factory=dict)
    phases: list[Latency] = Field(default_factory=list)
    tools: list[Latency] = Field(default_factory=list)
    errors: list[ErrorClass] = Field(default_factory=list)
    preflight: list[dict[str, Any]] = Field(default_factory=list)
    timeseries: Timeseries | None = None
    baseline: BaselineComparison | None = None
    drift: Drift | None = None
    series: list[SeriesEntry] = Field(default_factory=list)
    breakpoint: BreakpointResult | None = None
    warnings: list[str] = Field(default_factory=list)  # what a reader must not miss, though the run passed

    @property
    def passed(self) -> bool:
        return self.run.status == "passed"

    def metric(self, key: str, stat: str) -> float | None:
        entry = self.metrics.get(key)
        return entry.values.get(stat) if entry is not None else None
