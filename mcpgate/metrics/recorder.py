"""Steps and iterations -> metric samples, for one scenario.

A session reports every exchange as a ``Step``; this is the only place that
knows which metrics a step feeds. Series handles are looked up once per
(method, tool) and cached, so recording a step is a handful of appends.

It is also the sessions' ``SessionMeter``: held streams (how many are open now,
how long each lived, the events they carried, how they ended), the messages
the server sent on any stream, and re-initializations as they happen (a per-VU
session may live for the whole run). Stream and message series appear with the
first stream or message, so a run that held none shows none.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mcpgate.metrics.catalog import BUILTIN
from mcpgate.metrics.registry import CounterSeries, GaugeSeries, Metrics, RateSeries, TrendSeries, tags_of
from mcpgate.protocol.outcome import Kind, Outcome
from mcpgate.protocol.records import Step
from mcpgate.protocol.transport import SESSION_DELETE, SSE_CONNECT, SSE_LISTEN

MAX_REASONS = 10  # distinct sample reasons kept per error class; the rest are counted as "other"
MAX_SERVER_METHODS = 32  # distinct server message methods counted by name per scenario; the rest as "other"
STREAMS_OPEN = "mcp_streams_open"  # one gauge for the process (and, merged, for the run), whatever the scenario

_ERROR_COUNTERS = tuple(name for name in BUILTIN if name.startswith("mcp_errors_"))
# A request that got no complete response failed at the HTTP level whatever its status line said.
_NO_RESPONSE = (Kind.TIMEOUT, Kind.CONNECTION_ERROR)

MAX_NAMES = 50  # distinct name tags of mcp_method_duration per method per scenario; the rest as "other"
OTHER_NAME = "other"
_OVERFLOW = "\x00other"  # the handles key every name past the bound shares (never a real name)
# Steps that are HTTP actions or notifications, not client requests: no mcp_method_duration.
_NOT_REQUESTS = frozenset({SSE_CONNECT, SSE_LISTEN, SESSION_DELETE})

_METHOD_TREND = {
    "initialize": "mcp_init_duration",
    "server/discover": "mcp_discover_duration",
    "tools/list": "mcp_tools_list_duration",
}


@dataclass
class ErrorLog:
    """Error classes with a few sample reasons each (what, where, how often)."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, Counter[tuple[str, str, str]]] = field(default_factory=dict)
    other: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, reason: str, method: str, tool: str | None) -> None:
        self.counts[kind] += 1
        self.add_samples(kind, reason, method, tool, 1)

    def add_samples(self, kind: str, reason: str, method: str, tool: str | None, n: int) -> None:
        """Samples of an error already counted (as when merging a worker's log)."""
        seen = self.samples.setdefault(kind, Counter())
        key = (reason, method, tool or "")
        if key in seen or len(seen) < MAX_REASONS:
            seen[key] += n
        else:
            self.other[kind] += n


@dataclass(slots=True)
class _ToolHandles:
    duration: TrendSeries
    errors: RateSeries
    is_error: RateSeries


@dataclass(slots=True)
class _Handles:
    duration: TrendSeries
    reqs: CounterSeries
    failed: RateSeries
    check: RateSeries
    method_trend: TrendSeries | None
    tool: _ToolHandles | None
    method_duration: TrendSeries | None  # mcp_method_duration{method,name}: every client request
    name: str | None  # the step's name tag, bounded (None: none, or only the tool)


class Recorder:
    def __init__(self, metrics: Metrics, scenario: str, errors: ErrorLog) -> None:
        self._m = metrics
        self.scenario = scenario
        self._errors = errors
        self._tags = tags_of(scenario=scenario)
        self._handles: dict[tuple[str, str | None, str | None], _Handles] = {}
        self._names: dict[str, set[str]] = {}  # per method: the names that have a tag of their own
        self._extras = _ExtraHandles({}, {}, {})
        m, tags = metrics, self._tags
        self._sent = m.counter("data_sent", tags)
        self._received = m.counter("data_received", tags)
        self._iterations = m.counter("iterations", tags)
        self._iteration_duration = m.trend("iteration_duration", tags)
        self._session_duration = m.trend("mcp_session_duration", tags)
        self._init_errors = m.counter("mcp_init_errors", tags)
        self._reinit = m.counter("mcp_session_reinit", tags)
        self._redirects: CounterSeries | None = None
        self._dropped = m.counter("dropped_iterations", tags)
        self._template_errors = m.counter("template_errors", tags)
        self._internal_errors = m.counter("internal_errors", tags)
        self._step_checks: dict[str, RateSeries] = {}  # a flow step's expect: checks{check:<its name>}
        self._auth: _AuthHandles | None = None  # with the first token request: a run without OAuth shows none
        for name in _ERROR_COUNTERS:  # zero from the start, so count<1 holds on a clean run
            m.counter(name, tags)
        self._error_counters: dict[tuple[str, str, str | None, str | None], CounterSeries] = {}
        self._streams: _StreamHandles | None = None
        self._server_messages: dict[tuple[str, bool], CounterSeries] = {}
        self._server_answers: dict[str, TrendSeries] = {}

    def _for(self, method: str, tool: str | None, name: str | None) -> _Handles:
        label = self._bounded(method, name if name is not None else tool)
        key = (method, tool, name)
        if label == OTHER_NAME and tool is None:  # past the bound: one set of handles for every such name
            key = (method, None, _OVERFLOW)
            if (found := self._handles.get(key)) is not None:
                return found
        m, scenario = self._m, self.scenario
        tags = tags_of(scenario=scenario, method=method, tool=tool)
        check_label = f"{method} {tool}" if tool else method
        trend_name = _METHOD_TREND.get(method)
        tool_handles = None
        if method == "tools/call":
            tool_tags = tags_of(scenario=scenario, tool=tool or "")
            tool_handles = _ToolHandles(
                m.trend("mcp_tool_duration", tool_tags, track_interval=True),
                m.rate("mcp_tool_errors", tool_tags),
                m.rate("mcp_tool_is_error", tool_tags),
            )
        request = method not in _NOT_REQUESTS and not method.startswith("notifications/")
        handles = _Handles(
            duration=m.trend("http_req_duration", tags, track_interval=True),
            reqs=m.counter("http_reqs", tags),
            failed=m.rate("http_req_failed", tags),
            check=m.rate("checks", tags_of(scenario=scenario, check=f"{check_label} is ok")),
            method_trend=m.trend(trend_name, tags_of(scenario=scenario)) if trend_name else None,
            tool=tool_handles,
            method_duration=m.trend("mcp_method_duration", tags_of(scenario=scenario, method=method, name=label))
            if request
            else None,
            name=label if name is not None else None,
        )
        self._handles[key] = handles
        return handles

    def _bounded(self, method: str, name: str | None) -> str | None:
        """The name tag a step gets: its own for the first ``MAX_NAMES`` names of its method, then "other"."""
        if name is None:
            return None
        names = self._names.setdefault(method, set())
        if name in names:
            return name
        if len(names) < MAX_NAMES:
            names.add(name)
            return name
        return OTHER_NAME

    def step(self, step: Step) -> None:
        h = self._handles.get((step.method, step.tool, step.name)) or self._for(step.method, step.tool, step.name)
        outcome = step.outcome
        ok = outcome.kind is Kind.OK
        if step.wire:
            ms = step.duration * 1000.0
            status = step.http_status
            abandoned = ok and step.cancelled  # given up on purpose (cancel_after): no answer, no duration
            if not abandoned:
                h.duration.add(ms)
            h.reqs.add()
            h.failed.add(
                not abandoned
                and (outcome.kind in _NO_RESPONSE or status is None or (status >= 400 and not step.allowed_status))
            )
            self._sent.add(step.sent)
            self._received.add(step.received)
            if step.retried:
                return  # recovered: the retry that follows is the call's real outcome
            if not abandoned:
                self._durations(h, ms)
        if step.progress or step.cancelled or step.task_duration is not None:
            self._beyond(step)
        h.check.add(ok)
        if h.tool is not None:
            h.tool.errors.add(not ok)
            h.tool.is_error.add(outcome.kind is Kind.TOOL_ERROR)
        if not ok:
            self._failed(outcome, step.method, step.tool, h.name)

    @staticmethod
    def _durations(h: _Handles, ms: float) -> None:
        if h.method_trend is not None:
            h.method_trend.add(ms)
        if h.method_duration is not None:
            h.method_duration.add(ms)
        if h.tool is not None:
            h.tool.duration.add(ms)

    def _beyond(self, step: Step) -> None:
        """What a request brought beyond its answer: progress notifications, a cancel, a task's whole span."""
        extras, m, scenario = self._extras, self._m, self.scenario
        tool = step.tool
        if step.progress:
            counter = extras.progress.get(tool)
            if counter is None:
                counter = extras.progress[tool] = m.counter(
                    "mcp_progress_notifications", tags_of(scenario=scenario, tool=tool)
                )
            counter.add(step.progress)
        if step.cancelled:
            key = (step.method, tool)
            cancelled = extras.cancelled.get(key)
            if cancelled is None:
                tags = tags_of(scenario=scenario, method=step.method, tool=tool)
                cancelled = extras.cancelled[key] = m.counter("mcp_cancelled", tags)
            cancelled.add()
        if step.task_duration is not None and step.outcome.ok:
            trend = extras.tasks.get(tool)
            if trend is None:
                trend = extras.tasks[tool] = m.trend("mcp_task_duration", tags_of(scenario=scenario, tool=tool))
            trend.add(step.task_duration * 1000.0)

    def _failed(self, outcome: Outcome, method: str, tool: str | None, name: str | None = None) -> None:
        self._error(outcome.kind.value, method, tool, name).add()
        self._errors.add(outcome.kind.value, outcome.describe(), method, tool)

    def _error(self, kind: str, method: str, tool: str | None, name: str | None = None) -> CounterSeries:
        key = (kind, method, tool, name)
        counter = self._error_counters.get(key)
        if counter is None:
            tags = tags_of(scenario=self.scenario, method=method, tool=tool, name=name)
            counter = self._error_counters[key] = self._m.counter(f"mcp_errors_{kind}", tags)
        return counter

    def template_error(self, tool: str, reason: str) -> None:
        self._template_errors.add()
        self._errors.add("template_error", reason, "tools/call", tool)

    def internal_error(self, exc: Exception) -> None:
        self._internal_errors.add()
        self._errors.add("internal_error", f"{type(exc).__name__}: {exc}", "iteration", None)

    def opened(self, ok: bool) -> None:
        if not ok:
            self._init_errors.add()

    def session(self, seconds: float) -> None:
        self._session_duration.add(seconds * 1000.0)

    def session_reinitialized(self) -> None:
        self._reinit.add()

    def redirect_followed(self) -> None:
        if self._redirects is None:  # made on the first: a run without redirects reports none
            self._redirects = self._m.counter("mcp_redirects", self._tags)
        self._redirects.add()

    def iteration(self, seconds: float) -> None:
        self._iterations.add()
        self._iteration_duration.add(seconds * 1000.0)

    def dropped(self, n: int = 1) -> None:
        self._dropped.add(n)

    # -- OAuth token requests: not MCP traffic, measured apart ----------------------------------

    def _auth_handles(self) -> _AuthHandles:
        m, tags = self._m, self._tags
        self._auth = _AuthHandles(
            m.trend("mcp_auth_duration", tags), m.counter("mcp_auth_errors", tags), m.counter("mcp_auth_refresh", tags)
        )
        return self._auth

    def auth_used(self) -> None:
        """The run sends OAuth tokens: its auth metrics exist from the start, at 0."""
        if self._auth is None:
            self._auth_handles()

    def auth_token(self, seconds: float | None, ok: bool) -> None:
        handles = self._auth or self._auth_handles()
        if seconds is not None:
            handles.duration.add(seconds * 1000.0)
        if not ok:
            handles.errors.add()

    def auth_refreshed(self) -> None:
        (self._auth or self._auth_handles()).refresh.add()

    # -- held streams and server messages (the sessions' SessionMeter) -------------------------

    def _stream_handles(self) -> _StreamHandles:
        m, tags = self._m, self._tags
        self._streams = _StreamHandles(
            m.gauge(STREAMS_OPEN), m.trend("mcp_stream_duration", tags), m.counter("mcp_stream_events", tags), {}
        )
        return self._streams

    def stream_opened(self, method: str) -> None:
        gauge = (self._streams or self._stream_handles()).open
        gauge.set(gauge.value + 1)

    def stream_data(self, received: int, events: int) -> None:
        self._received.add(received)
        if events and self._streams is not None:
            self._streams.events.add(events)

    def stream_ended(self, method: str, seconds: float, outcome: Outcome) -> None:
        handles = self._streams or self._stream_handles()
        handles.open.set(max(0.0, handles.open.value - 1))
        handles.duration.add(seconds * 1000.0)
        check = handles.checks.get(method)
        if check is None:
            check = handles.checks[method] = self._m.rate(
                "checks", tags_of(scenario=self.scenario, check=f"{method} held")
            )
        check.add(outcome.ok)
        if not outcome.ok:
            self._failed(outcome, method, None)

    def server_message(self, method: str, request: bool) -> None:
        counter = self._server_messages.get((method, request))
        if counter is None:
            if len(self._server_messages) >= MAX_SERVER_METHODS:
                method = "other"
                counter = self._server_messages.get((method, request))
            if counter is None:
                name = "mcp_server_requests" if request else "mcp_server_notifications"
                counter = self._m.counter(name, tags_of(scenario=self.scenario, method=method))
                self._server_messages[(method, request)] = counter
        counter.add()

    def server_request_answered(self, method: str, seconds: float) -> None:
        """From a server request's receipt to our answer sent, the configured delay included."""
        trend = self._server_answers.get(method)
        if trend is None:
            if len(self._server_answers) >= MAX_SERVER_METHODS:
                method = "other"
                trend = self._server_answers.get(method)
            if trend is None:
                trend = self._m.trend("mcp_server_request_duration", tags_of(scenario=self.scenario, method=method))
                self._server_answers[method] = trend
        trend.add(seconds * 1000.0)

    # -- flow steps: their checks and the templates that failed before a request -----------------

    def step_checked(self, check: str, ok: bool) -> None:
        """A step's ``expect:``: ``checks{check:<the step's name>}``, thresholdable like any check."""
        series = self._step_checks.get(check)
        if series is None:
            series = self._step_checks[check] = self._m.rate("checks", tags_of(scenario=self.scenario, check=check))
        series.add(ok)

    def step_template_error(self, method: str, name: str | None, reason: str) -> None:
        """A step whose templates failed for this VU (a capture it reads is missing): not sent."""
        self._template_errors.add()
        self._errors.add("template_error", reason, method, name)


@dataclass(slots=True)
class _StreamHandles:
    open: GaugeSeries  # shared by every recorder of the process: streams open now
    duration: TrendSeries
    events: CounterSeries
    checks: dict[str, RateSeries]  # per stream kind (sse/listen, sse/connect)


@dataclass(slots=True)
class _AuthHandles:
    duration: TrendSeries
    errors: CounterSeries
    refresh: CounterSeries


@dataclass(slots=True)
class _ExtraHandles:
    progress: dict[str | None, CounterSeries]  # per tool
    cancelled: dict[tuple[str, str | None], CounterSeries]  # per (method, tool)
    tasks: dict[str | None, TrendSeries]  # per tool
