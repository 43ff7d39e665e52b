"""Thresholds in k6's syntax: ``mcp_tool_duration{tool:search}`` with ``p(95)<3000``.

Parsing follows k6 (``metrics/thresholds_parser.go``: the operator scan, the
aggregation tokens, ``p(N)``; ``metrics/metric.go``: the ``name{tag:value}``
selector) so a k6 user's thresholds mean here what they meant there. Where we
are stricter (unknown metrics and tags, a tag named twice, NaN or Inf limits,
a rate metric's rate above 1) it is because k6 would accept the threshold and
then quietly check something other than what the user read.

Evaluation is a pure function of an ``Observe`` callback, so the live abort
check and the final verdict use the same code and tests need no metrics engine.
A metric without samples fails as "no data" (k6 compares an empty trend's
zeros, so ``p(95)<3000`` passed with no calls at all) unless ``allow_no_data``
says it may pass; live, no data never aborts, as k6 skips empty sinks until the
end of the run.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from mcpgate.catalog import AGGREGATIONS, BUILTIN, TAG_KEYS, MetricType
from mcpgate.config.models import ThresholdItem
from mcpgate.errors import field_name

# Go's strings.TrimSpace set (unicode.IsSpace), which k6 uses around every token.
_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_QUOTES = "\"'"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Decimal only: k6's ParseFloat also takes hex, NaN and Inf, none of which make a sane limit.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# k6 scans for the first of these that occurs; longer tokens come first so "<=" is not read as "<".
_OPERATORS = ("<=", "<", ">=", ">", "===", "==", "!=")
_KEYWORDS = ("value", "count", "rate", "avg", "min", "med", "max")
_SYNTAX_HINT = "expected AGGREGATION OP NUMBER, e.g. p(95)<3000"
_CLI_HINT = "expected METRIC=EXPR[,EXPR], e.g. mcp_tool_duration=p(95)<3000,p(99)<8000"


def _trim(text: str) -> str:
    return text.strip(_SPACE)


def _fmt(value: float) -> str:
    """Shortest exact form, 95.0 -> "95", 99.9 -> "99.9": like Go's %g, which k6 uses to name percentiles."""
    return repr(value).removesuffix(".0")


# --- metric keys -------------------------------------------------------------


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
    key = _trim(text)
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
    if not _trim(inner):
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
    if not _trim(part):
        raise ValueError(f"metric {key!r} has an empty tag between commas")
    tag, colon, value = part.partition(":")
    tag, value = tag.strip(_SPACE + _QUOTES), value.strip(_SPACE + _QUOTES)
    if not colon:
        raise ValueError(f"metric {key!r}: tag {_trim(part)!r} must be written tag:value")
    if not tag:
        raise ValueError(f"metric {key!r}: tag {_trim(part)!r} has no name before ':'")
    if not value:
        raise ValueError(f"metric {key!r}: tag {tag!r} has no value after ':'")
    return tag, value


# --- expressions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Threshold:
    """One checked expression on one metric key; build one with ``parse_threshold``."""

    key: MetricKey
    source: str  # the expression as the user wrote it, e.g. "p(95)<3000"
    aggregation: str  # "avg" "min" "max" "med" "count" "rate" "value" or "p(N)" with N as short as exact
    op: str  # "<" "<=" ">" ">=" "==" "!=" (k6's "===" is read as "==")
    limit: float
    abort_on_fail: bool = False
    delay_abort_eval: float = 0.0  # seconds
    allow_no_data: bool = False


def _parse_expression(source: str) -> tuple[str, str, float]:
    """(aggregation, op, limit) from ``AGGREGATION OP NUMBER``; k6's grammar, whitespace allowed around OP."""
    for op in _OPERATORS:
        left, found, right = source.partition(op)
        if found:
            break
    else:
        raise ValueError(f"cannot parse threshold {source!r}: {_SYNTAX_HINT}")
    aggregation = _parse_aggregation(_trim(left), source)
    limit_text = _trim(right)
    if not _NUMBER.fullmatch(limit_text):
        raise ValueError(f"cannot parse threshold {source!r}: {_SYNTAX_HINT} (limit {limit_text!r} is not a number)")
    limit = float(limit_text)
    if not math.isfinite(limit):
        raise ValueError(f"threshold {source!r}: limit {limit_text} is out of range")
    return aggregation, "==" if op == "===" else op, limit


def _parse_aggregation(text: str, source: str) -> str:
    if text in _KEYWORDS:
        return text
    if text.startswith("p(") and text.endswith(")"):
        inner = text[2:-1]
        if not _NUMBER.fullmatch(inner):
            raise ValueError(
                f"cannot parse threshold {source!r}: {_SYNTAX_HINT} (percentile {inner!r} is not a number)"
            )
        percent = float(inner)
        if not 0 < percent <= 100:
            raise ValueError(f"threshold {source!r}: percentile {inner} is outside (0, 100]")
        return f"p({_fmt(percent)})"
    hint = f" (unknown aggregation {text!r})" if text else ""
    raise ValueError(f"cannot parse threshold {source!r}: {_SYNTAX_HINT}{hint}")


def _known_metrics(custom: Mapping[str, MetricType] | None) -> dict[str, MetricType]:
    """Built-in names win: a custom metric cannot change what a documented name means."""
    return {**(custom or {}), **{name: info.type for name, info in BUILTIN.items()}}


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_applies(aggregation: str, kind: MetricType, key: MetricKey, source: str, limit: float) -> None:
    allowed = AGGREGATIONS[kind]
    token = "p(N)" if aggregation.startswith("p(") else aggregation
    if token not in allowed:
        raise ValueError(
            f"{aggregation!r} does not apply to {kind.value} metric {key.name!r} (use {', '.join(allowed)})"
        )
    # A rate metric's rate is a fraction; 2 meaning "2%" would pass (or fail) forever.
    if kind is MetricType.RATE and not 0 <= limit <= 1:
        raise ValueError(
            f"threshold {source!r} on {key.name!r}: a rate metric's rate is a fraction from 0 to 1 "
            f"(0.02 means 2%), got {_fmt(limit)}"
        )


def parse_threshold(
    metric: str,
    expression: str,
    *,
    abort_on_fail: bool = False,
    delay_abort_eval: float = 0.0,
    allow_no_data: bool = False,
    custom_metrics: Mapping[str, MetricType] | None = None,
) -> Threshold:
    """One checked threshold; ValueError says in one line what is wrong and, where it can, what was meant."""
    key = parse_metric_key(metric)
    known = _known_metrics(custom_metrics)
    kind = known.get(key.name)
    if kind is None:
        raise ValueError(f"unknown metric {key.name!r}{_suggest(key.name, sorted(known))}")
    for tag, _ in key.tags:
        if tag not in TAG_KEYS:
            allowed = ", ".join(TAG_KEYS)
            raise ValueError(f"unknown tag {tag!r} in {str(key)!r}{_suggest(tag, TAG_KEYS)} (tags: {allowed})")
    aggregation, op, limit = _parse_expression(expression)
    _check_applies(aggregation, kind, key, expression, limit)
    if not (math.isfinite(delay_abort_eval) and delay_abort_eval >= 0):
        raise ValueError(f"delay_abort_eval must be a duration >= 0, got {delay_abort_eval!r}")
    return Threshold(key, expression, aggregation, op, limit, abort_on_fail, delay_abort_eval, allow_no_data)


def thresholds_from_config(raw: Mapping[str, Sequence[str | ThresholdItem]]) -> list[Threshold]:
    """The config's ``thresholds:`` section; each error starts with ``thresholds.<metric key>:``."""
    out: list[Threshold] = []
    for metric, items in raw.items():
        try:
            if isinstance(items, str):
                raise ValueError("expected a list of expressions, e.g. ['p(95)<3000']")
            for item in items:
                out.append(_from_item(metric, item))
        except ValueError as exc:
            raise ValueError(f"thresholds.{field_name(metric)}: {exc}") from exc
    return out


def _from_item(metric: str, item: str | ThresholdItem) -> Threshold:
    if isinstance(item, str):
        return parse_threshold(metric, item)
    if isinstance(item, ThresholdItem):
        return parse_threshold(
            metric,
            item.threshold,
            abort_on_fail=item.abort_on_fail,
            delay_abort_eval=item.delay_abort_eval,
            allow_no_data=item.allow_no_data,
        )
    raise ValueError(f"expected an expression or a threshold item, got {type(item).__name__}")


# --- the command line --------------------------------------------------------


def parse_cli_threshold(text: str) -> tuple[str, list[str]]:
    """``METRIC=EXPR[,EXPR]`` -> (metric key as written, expressions); splits at the first '=' outside braces.

    Each expression is checked against its metric here, as the config's are, so a mistake fails
    naming the flag (or the action's input) that carried it.
    """
    depth = 0
    split_at = -1
    for at, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "=" and depth == 0:
            split_at = at
            break
    if split_at < 0:
        unclosed = "a '{' is never closed; " if depth > 0 else ""
        raise ValueError(f"--threshold {text!r}: {unclosed}{_CLI_HINT}")
    metric = _trim(text[:split_at])
    if not metric:
        raise ValueError(f"--threshold {text!r}: no metric before '='; {_CLI_HINT}")
    try:
        parse_metric_key(metric)
        expressions = [_trim(part) for part in text[split_at + 1 :].split(",")]
        if not all(expressions):
            raise ValueError(f"an expression is empty; {_CLI_HINT}")
        for expression in expressions:
            parse_threshold(metric, expression)
    except ValueError as exc:
        raise ValueError(f"--threshold {text!r}: {exc}") from exc
    return metric, expressions


def _canonical(metric: str) -> str:
    try:
        return str(parse_metric_key(metric))
    except ValueError:
        return metric  # reported, with its config path, by thresholds_from_config


def merge_cli(
    file_thresholds: Mapping[str, list[str | ThresholdItem]], cli: Sequence[str]
) -> dict[str, list[str | ThresholdItem]]:
    """The file's thresholds with each ``--threshold`` applied.

    A CLI metric replaces every expression the file has for the same metric
    (keys compared canonically); several CLI entries for one metric add up.
    """
    merged: dict[str, list[str | ThresholdItem]] = {key: list(items) for key, items in file_thresholds.items()}
    replaced: dict[str, str] = {}  # canonical key -> the key in merged that the CLI owns
    for text in cli:
        metric, expressions = parse_cli_threshold(text)
        canonical = _canonical(metric)
        if canonical in replaced:
            merged[replaced[canonical]].extend(expressions)
            continue
        same = [key for key in merged if _canonical(key) == canonical]
        owner = same[0] if same else metric
        for key in same[1:]:
            del merged[key]
        merged[owner] = list(expressions)
        replaced[canonical] = owner
    return merged


# --- evaluation --------------------------------------------------------------


# (metric key, aggregation) -> the value, or None when the metric had no samples. As in k6, a
# counter's "rate" is per second of test time and a rate metric's "rate" is the fraction of true samples.
Observe: TypeAlias = Callable[[MetricKey, str], float | None]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A threshold's outcome at one moment: live for abort, or at the end for the run's verdict."""

    threshold: Threshold
    ok: bool
    observed: float | None  # the aggregated value; None when the metric had no samples
    reason: str  # "" when ok; "no data"; or e.g. "p(95)=4120 (limit <3000)"


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def evaluate(threshold: Threshold, observe: Observe) -> Verdict:
    """Compare as k6 does: plain floats, no rounding (so NaN fails every operator but '!=')."""
    observed = observe(threshold.key, threshold.aggregation)
    if observed is None:
        return Verdict(threshold, threshold.allow_no_data, None, "" if threshold.allow_no_data else "no data")
    if _COMPARE[threshold.op](observed, threshold.limit):
        return Verdict(threshold, True, observed, "")
    reason = f"{threshold.aggregation}={_fmt(observed)} (limit {threshold.op}{_fmt(threshold.limit)})"
    return Verdict(threshold, False, observed, reason)


def evaluate_all(thresholds: Sequence[Threshold], observe: Observe) -> list[Verdict]:
    return [evaluate(threshold, observe) for threshold in thresholds]


def should_abort(verdicts: Sequence[Verdict], elapsed: float) -> Verdict | None:
    """The first failure that stops the run now: abort_on_fail, past its delay, and not for want of data.

    k6 aborts once elapsed > delayAbortEval; we abort at equality too, well inside k6's 2 s evaluation tick.
    """
    for verdict in verdicts:
        threshold = verdict.threshold
        if (
            not verdict.ok
            and verdict.observed is not None
            and threshold.abort_on_fail
            and elapsed >= threshold.delay_abort_eval
        ):
            return verdict
    return None


def describe(verdict: Verdict) -> str:
    """``mcp_tool_duration p(95)<3000: p(95)=4120.3 ✗`` for consoles and logs."""
    threshold = verdict.threshold
    shown = "no data" if verdict.observed is None else f"{threshold.aggregation}={_fmt(verdict.observed)}"
    mark = "✓" if verdict.ok else "✗"
    return f"{threshold.key} {_trim(threshold.source)}: {shown} {mark}"
