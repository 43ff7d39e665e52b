"""Read the YAML config into the validated model, failing with one line that names file:line.

PyYAML's own loaders let a duplicated key silently win (the seed's k6 script lost a threshold
gate that way) and forget where each value was written. So we compose YAML nodes with a safe
loader and build the data ourselves: that rejects duplicate keys, records the line of every key
and item (a ``LineMap``), and substitutes ``${VAR}`` in string values (never in keys). Pydantic's
errors are then mapped back to those lines and phrased for a person.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import pydantic
import yaml
from pydantic import AliasChoices

from mcpgate.config.models import Config
from mcpgate.support.errors import UsageError, field_name
from mcpgate.support.redact import MASK, Redactor

LineMap: TypeAlias = dict[tuple[str | int, ...], int]
"""Path of keys and list indexes in the document -> 1-based line where that key or item is written."""

MAX_CONFIG_BYTES = 1024 * 1024
MAX_NODES = 1_000_000  # bounds alias expansion ("billion laughs"); a 1 MiB file has far fewer
MAX_SHOWN = 60  # longest input value an error message repeats

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

_ENV_REF = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\})?")
_ENV_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
_SECRET_KEY = re.compile(r"token|secret|passw|auth|api[-_]?key|credential|cookie", re.IGNORECASE)
_QUOTED = re.compile(r"'([^']*)'")


class _Loader(yaml.SafeLoader):
    """Safe loader that keeps dates as strings: ``protocol_version: 2025-06-18`` must stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# --- reading -------------------------------------------------------------------------------------


def load_config(path: Path) -> Config:
    """The validated config in ``path``; any problem is a one-line ``UsageError``."""
    data, lines = load_yaml(path)
    return validate_config(data, lines, str(path))


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """The document in ``path`` (a mapping) and where each of its keys is written."""
    source = str(path)
    return load_yaml_text(_read_text(path, source), source)


def _read_text(path: Path, source: str) -> str:
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(source, "is a directory, not a config file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise UsageError(source, f"is {info.st_size} bytes; a config file may be at most 1 MiB")
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)  # a FIFO or device has no honest st_size
    except FileNotFoundError:
        raise UsageError(source, "no such file") from None
    except OSError as exc:
        raise UsageError(source, f"cannot read it ({exc.strerror or exc})") from None
    except ValueError:  # a NUL in the name
        raise UsageError(source, "not a valid file name") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(source, "is larger than 1 MiB; a config file may be at most 1 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"{source}:{line}", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def load_yaml_text(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse ``text`` (named ``source`` in errors) into plain data and its ``LineMap``."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, source) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise UsageError(f"{source}:1", "the file is empty; expected a mapping with at least 'target:'")
        if not isinstance(node, yaml.MappingNode):
            raise UsageError(
                f"{source}:{node.start_mark.line + 1}",
                f"the top level must be a mapping of keys like 'target:', got {_node_kind(node)}",
            )
        builder = _Builder(loader, source)
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, source) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, source) from None
    except RecursionError:
        raise UsageError(f"{source}:{loader.line + 1}", "the document is nested too deeply") from None
    finally:
        loader.dispose()
    return data, builder.lines


def _syntax_error(exc: yaml.MarkedYAMLError, source: str) -> UsageError:
    mark = exc.problem_mark or exc.context_mark
    problem = str(exc.problem or exc.context or "not valid YAML")
    if exc.problem and exc.context and not exc.context.startswith("while "):
        problem = f"{exc.context}, {exc.problem}"  # "expected a single document in the stream, but found ..."
    problem = " ".join(problem.split())
    if mark is None:
        return UsageError(source, problem)
    return UsageError(f"{source}:{mark.line + 1}:{mark.column + 1}", problem)


def _reader_error(exc: yaml.reader.ReaderError, text: str, source: str) -> UsageError:
    position = max(0, min(int(exc.position), len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    return UsageError(f"{source}:{line}:{column}", f"character #x{char:04x} is not allowed in YAML")


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return "a plain value"


class _Builder:
    """Builds plain data from composed nodes, recording lines and refusing duplicate keys."""

    def __init__(self, loader: _Loader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.lines: LineMap = {}
        self._budget = MAX_NODES
        self._active: set[int] = set()

    def _error(self, node: yaml.Node, message: str) -> UsageError:
        return UsageError(f"{self.source}:{node.start_mark.line + 1}", message)

    def build(self, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
        if not path:
            self.lines[()] = node.start_mark.line + 1
        self._budget -= 1
        if self._budget < 0:
            raise self._error(node, "too many values (is an alias expanding itself?)")
        if isinstance(node, yaml.ScalarNode):
            value = self.loader.construct_object(node)
            return self._substitute(value, node) if isinstance(value, str) and "$" in value else value
        if id(node) in self._active:
            raise self._error(node, "an alias refers to a value that contains it")
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ_TAG:
                    raise self._error(node, f"unsupported YAML tag {node.tag}")
                items = []
                for index, item in enumerate(node.value):
                    self.lines[(*path, index)] = item.start_mark.line + 1
                    items.append(self.build(item, (*path, index)))
                return items
            if isinstance(node, yaml.MappingNode):
                if node.tag != _MAP_TAG:
                    raise self._error(node, f"unsupported YAML tag {node.tag}")
                mapping: dict[str, Any] = {}
                for key, key_node, value_node in self._entries(node):
                    self.lines[(*path, key)] = key_node.start_mark.line + 1
                    mapping[key] = self.build(value_node, (*path, key))
                return mapping
            raise self._error(node, "unsupported YAML node")
        finally:
            self._active.discard(id(node))

    def _entries(self, node: yaml.MappingNode) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """Explicit keys first, then keys merged in with ``<<`` that are not already there.

        Keys are the text as written (``on:`` stays 'on', ``1:`` is '1'): config keys are names.
        """
        explicit: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merged: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for merge_source in sources:
                    if not isinstance(merge_source, yaml.MappingNode) or id(merge_source) in self._active:
                        raise self._error(key_node, "'<<' merges a mapping or a list of mappings")
                    self._active.add(id(merge_source))
                    try:
                        merged.extend(self._entries(merge_source))
                    finally:
                        self._active.discard(id(merge_source))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._error(key_node, "a key must be a plain value, not a list or a mapping")
            key = str(key_node.value)
            if key in explicit:
                first = explicit[key][0].start_mark.line + 1
                raise self._error(key_node, f"duplicate key {_show(key)} (first at line {first})")
            explicit[key] = (key_node, value_node)
        entries = [(key, k, v) for key, (k, v) in explicit.items()]
        seen = set(explicit)
        for key, key_node, value_node in merged:
            if key not in seen:
                seen.add(key)
                entries.append((key, key_node, value_node))
        return entries

    def _substitute(self, value: str, node: yaml.Node) -> str:
        """``${VAR}``, ``${VAR:-default}`` from the environment; ``$${`` is a literal ``${``."""

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            body = match.group("body")
            if match.group("close") is None:
                raise self._error(node, "unclosed '${' (write '$${' for a literal '${')")
            ref = _ENV_BODY.fullmatch(body)
            if ref is None:
                raise self._error(node, f"bad variable reference {_show('${' + body + '}')}; write ${{NAME}}")
            name = ref.group("name")
            found = os.environ.get(name)
            if found is not None:
                return found
            if ref.group("default") is not None:
                return ref.group("default")
            raise self._error(node, f"environment variable {name} is not set")

        return _ENV_REF.sub(replace, value)


# --- validation ----------------------------------------------------------------------------------


def validate_config(data: Any, lines: LineMap, source: str) -> Config:
    """``data`` as a ``Config``; a validation failure becomes a one-line ``UsageError``."""
    try:
        return Config.model_validate(data)
    except pydantic.ValidationError as exc:
        field, message = _describe(exc, data, lines, source)
        raise UsageError(field, message) from None


def format_validation_error(exc: pydantic.ValidationError, lines: LineMap, source: str) -> str:
    """One line, ``FILE:LINE: path: what is wrong``, for the first (earliest written) error."""
    field, message = _describe(exc, _ABSENT, lines, source)
    return f"{field}: {message}"


@dataclass(frozen=True, slots=True)
class _Located:
    """One pydantic error, placed in the document."""

    error: Mapping[str, Any]
    path: tuple[str | int, ...]  # the YAML path: loc without union labels
    parent: Any  # the schema type holding the last path element
    union: tuple[tuple[Any, ...], tuple[Any, ...]] | None  # (loc before the label, members) if it ends at one
    line: int


def _describe(exc: pydantic.ValidationError, data: Any, lines: LineMap, source: str) -> tuple[str, str]:
    located = [_locate(error, lines) for error in exc.errors()]
    problems = _problems(located)
    misspelt = {item.path[:-1]: item.line for item in located if item.error["type"] == "extra_forbidden"}
    problems.sort(key=lambda group: _order(group[0], misspelt))
    first = problems[0]
    text = _message(first, data)
    if len(problems) > 1:
        text += f" (and {len(problems) - 1} more)"
    return f"{source}:{first[0].line}", _redactor(data)(text)


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


def _locate(error: Mapping[str, Any], lines: LineMap) -> _Located:
    loc = tuple(error["loc"])
    tp: Any = Config
    parent: Any = None
    path: list[str | int] = []
    union: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
    for index, part in enumerate(loc):
        if part == "[key]":  # the mapping's key itself was rejected, not its value
            path.append(part)
            break
        tp = _unwrap(tp)
        members = _union_members(tp)
        if members:
            union = (loc[:index], members)
            tp = _pick_member(members, part)
            continue
        union = None
        parent = tp
        path.append(part)
        tp = _child_type(tp, part)
    if union is None and error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = _discriminator(error)
        path.append(discriminator)
        parent = _unwrap(tp)
    key = tuple(path)
    while key not in lines and key:
        key = key[:-1]
    return _Located(error, tuple(path), _unwrap(parent), union, lines.get(key, 1))


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and a lone ``| None``: pydantic puts no union label on those."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [m for m in typing.get_args(tp) if m is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _union_members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(_unwrap(m) for m in typing.get_args(tp) if m is not type(None))
    return ()


def _pick_member(members: tuple[Any, ...], label: Any) -> Any:
    """The member a union label names: a discriminator tag, a class name, or ``dict[...]``-style."""
    for member in members:
        if _is_model(member):
            for field in member.model_fields.values():
                if typing.get_origin(field.annotation) is Literal and label in typing.get_args(field.annotation):
                    return member
        name = _type_label(member)
        if isinstance(label, str) and (label == name or label.lower().startswith(name.lower() + "[")):
            return member
    return None


def _type_label(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "literal"
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(tp, "__name__", str(tp))


def _is_model(tp: Any) -> typing.TypeGuard[type[pydantic.BaseModel]]:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _child_type(tp: Any, part: Any) -> Any:
    if _is_model(tp):
        for name, field in tp.model_fields.items():
            if part == name or part in _field_names(name, field):
                return field.annotation
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def _field_names(name: str, field: Any) -> list[str]:
    names = [name]
    if isinstance(field.alias, str):
        names.append(field.alias)
    alias = field.validation_alias
    if isinstance(alias, str):
        names.append(alias)
    elif isinstance(alias, AliasChoices):
        names.extend(choice for choice in alias.choices if isinstance(choice, str))
    return names


def _discriminator(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    return str(ctx.get("discriminator", "'executor'")).strip("'\"")


# --- phrasing ------------------------------------------------------------------------------------


def _message(group: list[_Located], data: Any) -> str:
    first = group[0]
    error = first.error
    kind = error["type"]
    where = _dotted(first.path)
    if kind == "extra_forbidden":
        key = first.path[-1] if first.path else ""
        text = f"unknown key {_show(key)}" + _did_you_mean(str(key), _model_names(first.parent))
        return _prefixed(_dotted(first.path[:-1]), text)
    if kind == "missing":
        key = first.path[-1] if first.path else ""
        return _prefixed(_dotted(first.path[:-1]), f"missing required key {_show(key)}")
    ctx = error.get("ctx") or {}
    if kind == "union_tag_not_found":
        tags = ", ".join(_tags(first.parent))
        return _prefixed(_dotted(first.path[:-1]), f"missing required key {_show(first.path[-1])} (one of {tags})")
    if kind == "union_tag_invalid":
        allowed = _QUOTED.findall(str(ctx.get("expected_tags", "")))
        tag = ctx.get("tag", error.get("input"))
        text = f"expected one of {', '.join(allowed)}, got {_show(tag)}" + _did_you_mean(str(tag), allowed)
        return _prefixed(where, text)
    if first.path and first.path[-1] == "[key]":
        name = _show(error.get("input"))
        return _prefixed(_dotted(first.path[:-2]), f"bad name {name}: use 1-64 letters, digits, '_', '.' or '-'")
    for member in group:  # a model's own check (its input is the whole mapping): its message says it all
        if member.error["type"] == "value_error" and isinstance(member.error.get("input"), dict):
            return _prefixed(_dotted(member.path), _plain("value_error", str(member.error.get("msg", "")), {}, ""))
    value = _value_at(data, first.path)
    if value is _ABSENT:
        value = error.get("input")
    secret = bool(first.path) and isinstance(first.path[-1], str) and bool(_SECRET_KEY.search(first.path[-1]))
    shown = MASK if secret else _show(value)
    if len(group) > 1 or first.union is not None:
        members = first.union[1] if first.union else ()
        wanted = _join_or(list(dict.fromkeys(_describe_type(m) for m in members)))
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


def _describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return ", ".join(repr(arg) for arg in typing.get_args(tp))
    if _is_model(tp) or tp is dict or origin is dict:
        return "a mapping"
    if tp is list or origin is list:
        return "a list"
    words = {str: "a string", bool: "true or false", int: "a whole number", float: "a number"}
    return words.get(tp, getattr(tp, "__name__", "a value"))


def _join_or(words: list[str]) -> str:
    if len(words) <= 1:
        return words[0] if words else "another value"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _model_names(tp: Any) -> list[str]:
    if not _is_model(tp):
        return []
    names: list[str] = []
    for name, field in tp.model_fields.items():
        names.extend(_field_names(name, field))
    return names


def _tags(tp: Any) -> list[str]:
    tags: list[str] = []
    for member in _union_members(tp):
        if _is_model(member):
            for field in member.model_fields.values():
                if typing.get_origin(field.annotation) is Literal:
                    tags.extend(str(arg) for arg in typing.get_args(field.annotation))
    return tags


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(field_name(part) for part in path)


def _prefixed(where: str, text: str) -> str:
    return f"{where}: {text}" if where else text


def _show(value: Any) -> str:
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


class _Absent:
    pass


_ABSENT: Any = _Absent()


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


def _redactor(data: Any) -> Redactor:
    """Every value under a credential-like key, so no message can carry one by accident."""
    redactor = Redactor()
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(value, str):
                    if isinstance(key, str) and _SECRET_KEY.search(key):
                        redactor.add(value)
                        redactor.add(value.partition(" ")[2].strip())
                    elif key == "url":
                        try:
                            redactor.add_url(value)
                        except ValueError:  # not a URL urlsplit reads (a stray ']'): mask any user info whole
                            redactor.add(value.partition("//")[2].rpartition("@")[0])
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return redactor
