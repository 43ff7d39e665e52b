"""A run's status in words, as the first line of every summary says it (console and Markdown alike)."""

from __future__ import annotations

from mcpgate.results.schema import Results

_LABELS = {
    "passed": "PASSED",
    "failed": "FAILED: thresholds crossed",
    "aborted": "ABORTED: a threshold stopped the run",
    "interrupted": "INTERRUPTED",
    "not_started": "DID NOT START",
    "error": "STOPPED BY AN INTERNAL ERROR",
}

ICONS = {
    "passed": "✅",
    "failed": "❌",
    "aborted": "🛑",
    "interrupted": "⚠️",
    "not_started": "⛔",
    "error": "💥",
}


def status_label(results: Results) -> str:
    """``FAILED: thresholds crossed``; a run failed by something else (drift, a regression) is just ``FAILED``."""
    status = results.run.status
    if status == "failed" and all(t.ok for t in results.thresholds):
        return "FAILED"  # not the thresholds: the reason says what
    return _LABELS.get(status, status.upper())
