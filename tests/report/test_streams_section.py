"""The Streams section and the progress line's stream count, on saved and synthetic results."""

from __future__ import annotations

from pathlib import Path

from mcpgate.metrics.catalog import MetricType
from mcpgate.report.console import render_summary
from mcpgate.report.markdown import render_markdown
from mcpgate.report.progress import progress_line
from mcpgate.report.streams import stream_summary
from mcpgate.results.io import read
from mcpgate.results.schema import MetricEntry, Results

DATA = Path(__file__).resolve().parents[1] / "data"


def saved() -> Results:
    return read(DATA / "results-passed.json")


def counter(n: float) -> MetricEntry:
    return MetricEntry(type=MetricType.COUNTER, values={"count": n, "rate": 0.0})


def test_a_run_that_held_no_stream_has_no_streams_section() -> None:
    results = saved()
    assert stream_summary(results) is None
    assert "STREAMS" not in render_summary(results)
    assert "### Streams" not in render_markdown(results)


def test_server_messages_without_held_streams_are_still_shown() -> None:
    results = saved()
    results.metrics.update(
        {
            "mcp_server_notifications": counter(7),
            "mcp_server_notifications{method:notifications/progress}": counter(5),
            "mcp_server_notifications{method:notifications/message}": counter(2),
            "mcp_server_requests": counter(1),
            "mcp_server_requests{method:ping}": counter(1),
        }
    )
    summary = stream_summary(results)
    assert summary is not None
    assert summary.rows() == [
        ("server notifications", "7 (notifications/progress 5, notifications/message 2)"),
        ("server requests", "1 (ping 1); ping answered, others refused"),
    ]
    console = render_summary(results)
    assert "  STREAMS\n    server notifications... 7 (notifications/progress 5" in console
    assert "| server requests | 1 (ping 1); ping answered, others refused |" in render_markdown(results)


def test_held_streams_are_summed_up() -> None:
    results = saved()
    results.metrics.update(
        {
            "mcp_streams_open": MetricEntry(type=MetricType.GAUGE, values={"value": 0, "min": 0, "max": 40}),
            "mcp_stream_duration": MetricEntry(
                type=MetricType.TREND,
                unit="ms",
                values={"count": 50, "avg": 9000, "min": 100, "med": 9500, "max": 12000, "p(90)": 1, "p(95)": 11000},
            ),
            "mcp_stream_events": counter(12),
            "mcp_errors_stream_closed": counter(4),
            "mcp_errors_stream_stalled": counter(1),
        }
    )
    summary = stream_summary(results)
    assert summary is not None
    assert summary.rows() == [
        ("held at once", "max 40, 0 at the end"),
        ("lifetimes", "50 streams, p50 9.50s, p95 11.00s, longest 12.00s"),
        ("ended early", "4 closed by the server, 1 stalled (10.00% of streams)"),
        ("events received", "12"),
    ]


def test_the_progress_line_counts_streams_once_any_was_held() -> None:
    base = {"elapsed": 12, "total": 60, "vus": 5, "vus_max": 5, "iterations": 9, "rps": 3.0, "error_rate": 0.0}
    assert "streams" not in progress_line(**base, p95=12.0)  # type: ignore[arg-type]
    assert progress_line(**base, p95=12.0, streams=2000).endswith("p95 12.0ms  streams 2,000")  # type: ignore[arg-type]
