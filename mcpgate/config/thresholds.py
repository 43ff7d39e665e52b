"""Thresholds in k6's syntax: ``mcp_tool_duration{tool:search}`` with ``p(95)<3000``, parsed and checked.

Parsing follows k6 (``metrics/thresholds_parser.go``: the operator scan, the
aggregation tokens, ``p(N)``) so a k6 user's thresholds mean here what they
meant there. Where we are stricter (unknown metrics and tags, a tag named twice,
NaN or Inf limits, a rate metric's rate above 1) it is because k6 would accept
the threshold and then quietly check something other than what the user read.
Judging them is verdict.thresholds'.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mcpgate.config.models import ThresholdItem
from mcpgate.metrics.catalog import AGGREGATIONS, BUILTIN, TAG_KEYS, MetricType
from mcpgate.metrics.keys import MetricKey, parse_metric_key, short_number, trim
from mcpgate.support.errors import field_name

# Decimal only: k6's ParseFloat also takes hex, NaN and Inf, none of which make a sane limit.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# k6 scans for the first of these that occurs; longer tokens come first so "<=" is not read as "<".
_OPERATORS = ("<=", "<", ">=", ">", "===", "==", "!=")
_KEYWORDS = ("value", "count", "rate", "avg", "min", "med", "max")
_SYNTAX_HINT = "expected AGGREGATION OP NUMBER, e.g. p(95)<3000"
_CLI_HINT = "expected METRIC=EXPR[,EXPR], e.g. mcp_tool_duration=p(95)<3000,p(99)<8000"


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
    aggregation = _parse_aggregation(trim(left), source)
    limit_text = trim(right)
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
        return f"p({short_number(percent)})"
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
            f"(0.02 means 2%), got {short_number(limit)}"
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
    metric = trim(text[:split_at])
    if not metric:
        raise ValueError(f"--threshold {text!r}: no metric before '='; {_CLI_HINT}")
    try:
        parse_metric_key(metric)
        expressions = [trim(part) for part in text[split_at + 1 :].split(",")]
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
