"""Every metric mcpgate records: its name, type and unit. Names are an API (README, thresholds).

Types follow k6. A trend's values are milliseconds; a rate is a fraction of
samples that were "true" (never a per-second figure); a counter's ``rate`` is
per second, as in k6; a gauge holds the latest value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mcpgate.protocol.outcome import Kind


class MetricType(StrEnum):
    TREND = "trend"
    RATE = "rate"
    COUNTER = "counter"
    GAUGE = "gauge"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    type: MetricType
    unit: str  # "ms", "bytes" or "" (a count or a fraction)
    description: str


def _m(name: str, kind: MetricType, unit: str, description: str) -> MetricInfo:
    return MetricInfo(name, kind, unit, description)


T, R, C, G = MetricType.TREND, MetricType.RATE, MetricType.COUNTER, MetricType.GAUGE

_ALL = [
    _m("mcp_init_duration", T, "ms", "initialize request, until its response (handshake era)"),
    _m("mcp_discover_duration", T, "ms", "server/discover request, until its response (2026-07-28)"),
    _m("mcp_tools_list_duration", T, "ms", "one tools/list request (each page counts)"),
    _m("mcp_tool_duration", T, "ms", "one tools/call request, tagged tool"),
    _m("mcp_session_duration", T, "ms", "a whole MCP session, from opening it to ending it"),
    _m("http_req_duration", T, "ms", "every HTTP request, tagged method (and tool)"),
    _m("iteration_duration", T, "ms", "one iteration of a virtual user, its think time included (as in k6)"),
    _m(
        "http_req_failed",
        R,
        "",
        "HTTP requests with no complete response (timeout, connection error) or a status >= 400",
    ),
    _m("mcp_tool_errors", R, "", "tools/call requests whose outcome was not ok"),
    _m("mcp_tool_is_error", R, "", "tools/call requests answered with isError: true"),
    _m("checks", R, "", "steps whose outcome was ok, tagged check"),
    _m("http_reqs", C, "", "HTTP requests sent"),
    _m("iterations", C, "", "iterations completed"),
    _m("dropped_iterations", C, "", "arrival-rate iterations that could not start on time (no free VU)"),
    _m("mcp_init_errors", C, "", "sessions that could not be opened (initialize or server/discover not ok)"),
    _m("mcp_session_reinit", C, "", "sessions re-initialized after the server answered 404"),
    _m("mcp_redirects", C, "", "same-origin 307/308 redirects followed (each hop counts)"),
    _m("template_errors", C, "", "tool calls not sent because their argument template failed for that call"),
    _m("internal_errors", C, "", "iterations ended by an unexpected error inside mcpgate (please report them)"),
    _m("data_sent", C, "bytes", "request body bytes sent"),
    _m("data_received", C, "bytes", "response body bytes received"),
    _m("vus", G, "", "active virtual users"),
    _m("vus_max", G, "", "virtual users allocated"),
    _m("mcp_streams_open", G, "", "server-to-client streams held open now (GET streams, legacy SSE streams)"),
    _m("mcp_stream_duration", T, "ms", "how long each held stream lived, from its headers to its end"),
    _m("mcp_stream_events", C, "", "SSE events received on held streams (keepalive comments are not events)"),
    _m("mcp_server_notifications", C, "", "notifications the server sent on any stream, tagged method"),
    _m(
        "mcp_server_requests",
        C,
        "",
        "requests the server sent on any stream or in an input_required result (ping, and sampling, elicitation "
        "and roots as client: configures them, answered; others refused with -32601), tagged method",
    ),
    _m(
        "mcp_server_request_duration",
        T,
        "ms",
        "from a server request's receipt to our answer sent (client: delay included), tagged method",
    ),
    _m("mcp_method_duration", T, "ms", "every client request, tagged method and name (tool, prompt, uri: 50 a method)"),
    _m("mcp_progress_notifications", C, "", "notifications/progress to requests sent with a progressToken, by tool"),
    _m("mcp_cancelled", C, "", "requests the client gave up on (its timeout) and told the server it cancelled"),
    _m("mcp_task_duration", T, "ms", "a task-augmented tools/call, from the call to its final result, tagged tool"),
    _m("mcp_auth_duration", T, "ms", "one OAuth token request, until its answer (not MCP traffic)"),
    _m("mcp_auth_errors", C, "", "OAuth token requests that gave no token (refused, unreachable, no endpoint found)"),
    _m("mcp_auth_refresh", C, "", "requests the MCP server answered 401, sent again with a new access token"),
    *[
        _m(f"mcp_errors_{kind.value}", C, "", f"steps that ended as {kind.value}")
        for kind in Kind
        if kind is not Kind.OK
    ],
]

BUILTIN: dict[str, MetricInfo] = {m.name: m for m in _ALL}

# Aggregations a threshold may use on each type; "p(N)" stands for any percentile.
AGGREGATIONS: dict[MetricType, tuple[str, ...]] = {
    MetricType.TREND: ("avg", "min", "med", "max", "p(N)", "count"),
    MetricType.RATE: ("rate",),
    MetricType.COUNTER: ("count", "rate"),
    MetricType.GAUGE: ("value", "min", "max"),
}

TAG_KEYS = ("scenario", "method", "tool", "name", "check")
