"""Read the YAML config into the validated model, failing with one line that names file:line.

PyYAML's own loaders let a duplicated key silently win (the seed's k6 script lost a threshold
gate that way) and forget where each value was written. So we compose YAML nodes with a safe
loader and build the data ourselves: that rejects duplicate keys, records the line of every key
and item (a ``LineMap``), and substitutes ``${VAR}`` in string values (never in keys). Pydantic's
errors are then mapped back to those lines and phrased for a person (explain.py).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, TypeAlias

import pydantic
import yaml

from mcpgate.config.explain import describe, show
from mcpgate.config.models import Config
from mcpgate.support.errors import UsageError

LineMap: TypeAlias = dict[tuple[str | int, ...], int]
"""Path of keys and list indexes in the document -> 1-based line where that key or item is written."""

MAX_CONFIG_BYTES = 1024 * 1024
MAX_NODES = 1_000_000  # bounds alias expansion ("billion laughs"); a 1 MiB file has far fewer

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

_ENV_REF = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\})?")
_ENV_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


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
                raise self._error(key_node, f"duplicate key {show(key)} (first at line {first})")
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
                raise self._error(node, f"bad variable reference {show('${' + body + '}')}; write ${{NAME}}")
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
        field, message = describe(exc, lines, source, data)
        raise UsageError(field, message) from None


def format_validation_error(exc: pydantic.ValidationError, lines: LineMap, source: str) -> str:
    """One line, ``FILE:LINE: path: what is wrong``, for the first (earliest written) error."""
    field, message = describe(exc, lines, source)
    return f"{field}: {message}"
