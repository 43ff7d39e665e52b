"""Metric keys in k6's syntax: ``mcp_tool_duration{tool:search}``, a metric or a sub-metric selected by tags.

Parsing follows k6 (``metrics/metric.go``: the ``name{tag:value}`` selector) so a
k6 user's keys mean here what they meant there. Thresholds (config.thresholds)
select with keys, and the metrics registry answers ``Observe`` queries by key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

# Go's strings.TrimSpace set (unicode.IsSpace), which k6 uses around every token.
SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
QUOTES = "\"'"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def trim(text: str) -> str:
    """Strip what k6 strips around every token (Go's unicode.IsSpace)."""
    return text.strip(SPACE)


def short_number(value: float) -> str:
    """Shortest exact form, 95.0 -> "95", 99.9 -> "99.9": like Go's %g, which k6 uses to name percentiles."""
    return repr(value).removesuffix(".0")


@dataclass(frozen=True, slots=True)
class MetricKey:
    """A metric, or a sub-metric selected by tags; build one with ``parse_metric_key``."""

    name: str
    tags: tuple[tuple[str, str], ...] = ()  # sorted by tag name

    def __str__(self) -> str:
        if not self.tags:
            return self.name
        return self.name + "{" + ",".join(f"{k}:{v}" for k, v in self.tags) + "}"


def parse_metric_key(text: str) -> MetricKey:
    """``name`` or ``name{tag:value,...}``; whitespace and quotes around tags and values are dropped, as in k6.

    A value may hold colons (the first colon splits) but no comma or brace: k6
    splits on commas before it strips quotes, so quoting never protected them.
    """
    key = trim(text)
    open_at = key.find("{")
    if open_at < 0:
        if "}" in key:
            raise ValueError(f"metric {key!r} has a '}}' without a '{{'")
        return MetricKey(_check_name(key, key))
    name = _check_name(key[:open_at], key)
    if not key.endswith("}"):
        raise ValueError(f"metric {key!r} must end with '}}': the form is name{{tag:value,...}}")
    inner = key[open_at + 1 : -1]
    if "{" in inner or "}" in inner:
        raise ValueError(f"metric {key!r} has a brace inside its tag selector")
    if not trim(inner):
        raise ValueError(f"metric {key!r} has an empty tag selector: drop the braces or add tag:value")
    tags: dict[str, str] = {}
    for part in inner.split(","):
        tag, value = _parse_tag(part, key)
        if tag in tags:
            raise ValueError(f"metric {key!r} names tag {tag!r} twice")
        tags[tag] = value
    return MetricKey(name, tuple(sorted(tags.items())))


def _check_name(name: str, key: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"metric {key!r}: {name!r} is not a metric name (letters, digits, underscores; no leading digit)"
        )
    return name


def _parse_tag(part: str, key: str) -> tuple[str, str]:
    if not trim(part):
        raise ValueError(f"metric {key!r} has an empty tag between commas")
    tag, colon, value = part.partition(":")
    tag, value = tag.strip(SPACE + QUOTES), value.strip(SPACE + QUOTES)
    if not colon:
        raise ValueError(f"metric {key!r}: tag {trim(part)!r} must be written tag:value")
    if not tag:
        raise ValueError(f"metric {key!r}: tag {trim(part)!r} has no name before ':'")
    if not value:
        raise ValueError(f"metric {key!r}: tag {tag!r} has no value after ':'")
    return tag, value


# (metric key, aggregation) -> the value, or None when the metric had no samples. As in k6, a
# counter's "rate" is per second of test time and a rate metric's "rate" is the fraction of true samples.
Observe: TypeAlias = Callable[[MetricKey, str], float | None]
