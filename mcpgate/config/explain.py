"""Pydantic's validation errors, placed in the document and phrased for a person in one line.

Pydantic reports every complaint of every union member, by its ``loc``; we map each back to the
line where it is written (a ``LineMap`` from loader.py), group the complaints into the problems a
person would fix one at a time, and say the earliest in the config's own words, masking secrets.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import pydantic

from mcpgate.config.credentials import SECRET_KEY, redactor
from mcpgate.config.fieldtypes import (
    child_type,
    describe_type,
    model_names,
    pick_member,
    union_members,
    union_tags,
    unwrap,
)
from mcpgate.config.models import Config
from mcpgate.support.errors import field_name
from mcpgate.support.redact import MASK

MAX_SHOWN = 60  # longest input value an error message repeats

_QUOTED = re.compile(r"'([^']*)'")

_Lines: TypeAlias = Mapping[tuple[str | int, ...], int]
"""A ``LineMap`` (loader.py), only read here: path of keys and list indexes -> line where it is written."""


class _Absent:
    pass


_ABSENT: Any = _Absent()  # no document to look values up in: show what pydantic says it got


@dataclass(frozen=True, slots=True)
class _Located:
    """One pydantic error, placed in the document."""

    error: Mapping[str, Any]
    path: tuple[str | int, ...]  # the YAML path: loc without union labels
    parent: Any  # the schema type holding the last path element
    union: tuple[tuple[Any, ...], tuple[Any, ...]] | None  # (loc before the label, members) if it ends at one
    line: int


def describe(exc: pydantic.ValidationError, lines: _Lines, source: str, data: Any = _ABSENT) -> tuple[str, str]:
    """(``FILE:LINE``, one line saying what is wrong) for the earliest written problem in ``exc``."""
    located = [_locate(error, lines) for error in exc.errors()]
    problems = _problems(located)
    misspelt = {item.path[:-1]: item.line for item in located if item.error["type"] == "extra_forbidden"}
    problems.sort(key=lambda group: _order(group[0], misspelt))
    first = problems[0]
    text = _message(first, data)
    if len(problems) > 1:
        text += f" (and {len(problems) - 1} more)"
    return f"{source}:{first[0].line}", redactor(data)(text)


def _order(first: _Located, misspelt: Mapping[tuple[str | int, ...], int]) -> tuple[int, int]:
    """Earliest line first; a missing key waits behind an unknown one beside it (``ulr:`` for ``url:``)."""
    if first.error["type"] == "missing" and first.path[:-1] in misspelt:
        return misspelt[first.path[:-1]], 1
    return first.line, 0


def _problems(located: list[_Located]) -> list[list[_Located]]:
    """Group the errors into problems a person would fix one at a time.

    A union reports every member's complaint: keep the deeper one when some member got inside
    the value (a mapping that matched ``ThresholdItem``), and merge them when all failed at once.
    """
    inner = [item for item in located if item.union is None]
    groups: dict[tuple[Any, ...], list[_Located]] = {}
    for item in located:
        if item.union is None:
            groups[("at", id(item))] = [item]
            continue
        prefix = item.union[0]
        if any(tuple(other.error["loc"][: len(prefix)]) == prefix for other in inner):
            continue
        groups.setdefault(("union", prefix), []).append(item)
    return list(groups.values()) or [located[:1]]


def _locate(error: Mapping[str, Any], lines: _Lines) -> _Located:
    loc = tuple(error["loc"])
    tp: Any = Config
    parent: Any = None
    path: list[str | int] = []
    union: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
    for index, part in enumerate(loc):
        if part == "[key]":  # the mapping's key itself was rejected, not its value
            path.append(part)
            break
        tp = unwrap(tp)
        members = union_members(tp)
        if members:
            union = (loc[:index], members)
            tp = pick_member(members, part)
            continue
        union = None
        parent = tp
        path.append(part)
        tp = child_type(tp, part)
    if union is None and error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = _discriminator(error)
        path.append(discriminator)
        parent = unwrap(tp)
    return _Located(error, tuple(path), unwrap(parent), union, line_of(lines, tuple(path)))


def line_of(lines: _Lines, path: tuple[str | int, ...]) -> int:
    """The line where ``path`` is written, or the nearest key above it that is; 1 when none is."""
    key = path
    while key and key not in lines:
        key = key[:-1]
    return lines.get(key, 1)


def _discriminator(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    return str(ctx.get("discriminator", "'executor'")).strip("'\"")


def _message(group: list[_Located], data: Any) -> str:
    first = group[0]
    error = first.error
    kind = error["type"]
    where = _dotted(first.path)
    if kind == "extra_forbidden":
        key = first.path[-1] if first.path else ""
        text = f"unknown key {show(key)}" + _did_you_mean(str(key), model_names(first.parent))
        return _prefixed(_dotted(first.path[:-1]), text)
    if kind == "missing":
        key = first.path[-1] if first.path else ""
        return _prefixed(_dotted(first.path[:-1]), f"missing required key {show(key)}")
    ctx = error.get("ctx") or {}
    if kind == "union_tag_not_found":
        tags = ", ".join(union_tags(first.parent))
        return _prefixed(_dotted(first.path[:-1]), f"missing required key {show(first.path[-1])} (one of {tags})")
    if kind == "union_tag_invalid":
        allowed = _QUOTED.findall(str(ctx.get("expected_tags", "")))
        tag = ctx.get("tag", error.get("input"))
        text = f"expected one of {', '.join(allowed)}, got {show(tag)}" + _did_you_mean(str(tag), allowed)
        return _prefixed(where, text)
    if first.path and first.path[-1] == "[key]":
        name = show(error.get("input"))
        return _prefixed(_dotted(first.path[:-2]), f"bad name {name}: use 1-64 letters, digits, '_', '.' or '-'")
    for member in group:  # a model's own check (its input is the whole mapping): its message says it all
        if member.error["type"] == "value_error" and isinstance(member.error.get("input"), dict):
            return _prefixed(_dotted(member.path), _plain("value_error", str(member.error.get("msg", "")), {}, ""))
    value = _value_at(data, first.path)
    if value is _ABSENT:
        value = error.get("input")
    secret = bool(first.path) and isinstance(first.path[-1], str) and bool(SECRET_KEY.search(first.path[-1]))
    shown = MASK if secret else show(value)
    if len(group) > 1 or first.union is not None:
        members = first.union[1] if first.union else ()
        wanted = _join_or(list(dict.fromkeys(describe_type(m) for m in members)))
        return _prefixed(where, f"expected {wanted}, got {shown}")
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        hint = _did_you_mean(str(value), _QUOTED.findall(expected)) if isinstance(value, str) else ""
        return _prefixed(where, f"expected {expected}, got {shown}{hint}")
    text = _plain(kind, str(error.get("msg", "")), ctx, shown)
    if isinstance(value, str) and not secret:
        for form in (repr(value), value):
            if len(form) > MAX_SHOWN and form in text:
                text = text.replace(form, shown)
    elif secret and isinstance(value, str) and value:
        text = text.replace(repr(value), MASK).replace(value, MASK)
    return _prefixed(where, " ".join(text.split()))


_TYPE_WORDS = {
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "finite_number": "a finite number",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_BOUND_KEYS = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}


def _plain(kind: str, msg: str, ctx: Mapping[str, Any], shown: str) -> str:
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {shown}"
    if kind in _BOUNDS:
        return f"must be {_BOUNDS[kind]} {ctx.get(_BOUND_KEYS[kind])}, got {shown}"
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return f"needs at least {count} item{'s' if count != 1 else ''}"
    if kind == "string_too_short":
        count = ctx.get("min_length", 1)
        return "must not be empty" if count == 1 else f"must be at least {count} characters, got {shown}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    if msg.startswith("Input should be "):
        return f"must be {msg[len('Input should be ') :]}, got {shown}"
    return f"{msg[:1].lower()}{msg[1:]}"


def _join_or(words: list[str]) -> str:
    if len(words) <= 1:
        return words[0] if words else "another value"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(field_name(part) for part in path)


def _prefixed(where: str, text: str) -> str:
    return f"{where}: {text}" if where else text


def show(value: Any) -> str:
    """A value as an error line may repeat it: short, and plain about containers."""
    if isinstance(value, str):
        if len(value) > MAX_SHOWN:
            return f"{value[:40]!r}... ({len(value)} characters)"
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{type(value).__name__} ({len(text)} characters)"


def _value_at(data: Any, path: Sequence[str | int]) -> Any:
    if data is _ABSENT:
        return _ABSENT
    node = data
    for part in path:
        in_mapping = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_mapping or in_list):
            return _ABSENT
        node = node[part]
    return node
