"""The "Streams" part of every summary: held streams and what the server sent on them.

A pure function of ``Results`` (its metrics), shared by the console and the
Markdown summary so both say the same thing. It is None for a run that held no
stream and received no server message: most runs against stateless servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcpgate.metrics.keys import parse_metric_key
from mcpgate.results.schema import Results
from mcpgate.support.format import count, ms, pct

TOP_METHODS = 4  # server message methods named in the summary; the results file has all of them


@dataclass(frozen=True, slots=True)
class StreamSummary:
    held: int  # streams that ended (each held stream once)
    max_open: int  # most held open at once
    open_at_end: int
    p50: float | None  # stream lifetimes, ms
    p95: float | None
    longest: float | None
    events: int
    closed: int  # stream_closed: the server ended one
    stalled: int  # stream_stalled: one went silent
    notifications: list[tuple[str, int]] = field(default_factory=list)  # by method, busiest first
    requests: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ok_rate(self) -> float:
        return 1 - (self.closed + self.stalled) / self.held if self.held else 1.0

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) lines, in the order a reader asks: how many, how long, how they ended, what came."""
        rows: list[tuple[str, str]] = []
        if self.held or self.max_open:
            rows.append(("held at once", f"max {count(self.max_open)}, {count(self.open_at_end)} at the end"))
            life = f"{count(self.held)} streams"
            if self.p50 is not None:
                life += f", p50 {ms(self.p50)}, p95 {ms(self.p95)}, longest {ms(self.longest)}"
            rows.append(("lifetimes", life))
            ended = f"{count(self.closed)} closed by the server, {count(self.stalled)} stalled"
            rows.append(("ended early", f"{ended} ({pct(1 - self.ok_rate)} of streams)"))
            rows.append(("events received", count(self.events)))
        if self.notifications:
            rows.append(("server notifications", _by_method(self.notifications)))
        if self.requests:
            rows.append(("server requests", _by_method(self.requests) + "; ping answered, others refused"))
        return rows


def _by_method(pairs: list[tuple[str, int]]) -> str:
    total = sum(n for _, n in pairs)
    named = ", ".join(f"{method} {count(n)}" for method, n in pairs[:TOP_METHODS])
    more = f", {len(pairs) - TOP_METHODS} more" if len(pairs) > TOP_METHODS else ""
    return f"{count(total)} ({named}{more})"


def stream_summary(results: Results) -> StreamSummary | None:
    v = results.metric
    notifications = _methods(results, "mcp_server_notifications")
    requests = _methods(results, "mcp_server_requests")
    opened = results.metrics.get("mcp_streams_open")
    if opened is None and not notifications and not requests:
        return None
    return StreamSummary(
        held=round(v("mcp_stream_duration", "count") or 0),
        max_open=round(opened.values.get("max", 0.0)) if opened is not None else 0,
        open_at_end=round(opened.values.get("value", 0.0)) if opened is not None else 0,
        p50=v("mcp_stream_duration", "med"),
        p95=v("mcp_stream_duration", "p(95)"),
        longest=v("mcp_stream_duration", "max"),
        events=round(v("mcp_stream_events", "count") or 0),
        closed=round(v("mcp_errors_stream_closed", "count") or 0),
        stalled=round(v("mcp_errors_stream_stalled", "count") or 0),
        notifications=notifications,
        requests=requests,
    )


def _methods(results: Results, name: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for key, entry in results.metrics.items():
        if not key.startswith(name + "{"):
            continue
        tags = dict(parse_metric_key(key).tags)
        if set(tags) == {"method"}:
            found.append((tags["method"], round(entry.values.get("count", 0.0))))
    return sorted(found, key=lambda pair: (-pair[1], pair[0]))
