"""Arguments for ``arguments: auto``: the plainest valid value for a tool's ``inputSchema``.

A schema comes from the server, so it may be odd, cyclic or huge: the synthesizer never raises and
has a budget of values, so no schema makes it build millions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

_MAX_DEPTH = 24
_MAX_VALUES = 5_000  # a schema whose refs or minItems multiply cannot make us build millions
_MAX_ITEMS = 64
_MAX_LENGTH = 4096
_FORMAT_EXAMPLES: Final = {
    "uuid": "00000000-0000-4000-8000-000000000000",
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "test@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}


def synthesize_arguments(input_schema: Mapping[str, Any]) -> dict[str, Any]:
    """A valid argument object for ``arguments: auto``, built from a tool's ``inputSchema``.

    Required properties only, each the plainest valid value. Never raises: an odd schema gives
    ``None`` for the part it cannot understand, and a non-object schema gives ``{}``.
    """
    value = _Synthesizer(input_schema).value(input_schema, 0, frozenset())
    return value if isinstance(value, dict) else {}


class _Synthesizer:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.budget = _MAX_VALUES

    def value(self, schema: Any, depth: int, refs: frozenset[str]) -> Any:
        self.budget -= 1
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH or self.budget < 0:
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in refs:
                return None  # a cycle: stop here rather than recurse forever
            target = self._resolve(ref)
            if not isinstance(target, Mapping):
                return None
            siblings = {key: item for key, item in schema.items() if key != "$ref"}
            return self.value({**target, **siblings}, depth + 1, refs | {ref})
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        if "default" in schema:
            return schema["default"]
        for key in ("oneOf", "anyOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.value(_first_option(options), depth + 1, refs)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self.value(self._merge(schema, all_of, refs), depth + 1, refs)
        kind = _schema_type(schema)
        if kind == "string":
            return _string(schema)
        if kind == "integer":
            return _integer(schema)
        if kind == "number":
            return _number(schema)
        if kind == "boolean":
            return True
        if kind == "array":
            return self._array(schema, depth, refs)
        if kind == "object":
            return self._object(schema, depth, refs)
        return None

    def _resolve(self, ref: str) -> Any:
        """``#/$defs/Name``, ``#/definitions/Name`` or any local JSON pointer; else None."""
        if ref != "#" and not ref.startswith("#/"):
            return None
        node: Any = self.root
        for raw in ref[2:].split("/") if ref != "#" else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def _merge(self, schema: Mapping[str, Any], parts: list[Any], refs: frozenset[str]) -> dict[str, Any]:
        """``allOf`` as one schema: later keywords win, properties and required accumulate."""
        merged: dict[str, Any] = {key: item for key, item in schema.items() if key != "allOf"}
        properties: dict[str, Any] = dict(_mapping(merged.get("properties")))
        required: list[Any] = list(_sequence(merged.get("required")))
        for option in parts:
            part = option
            if isinstance(option, Mapping) and isinstance(option.get("$ref"), str) and option["$ref"] not in refs:
                part = self._resolve(option["$ref"])
            if not isinstance(part, Mapping):
                continue
            for key, item in part.items():
                if key == "properties":
                    properties.update(_mapping(item))
                elif key == "required":
                    required.extend(_sequence(item))
                elif key not in ("allOf", "$ref"):
                    merged[key] = item
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    def _array(self, schema: Mapping[str, Any], depth: int, refs: frozenset[str]) -> list[Any]:
        count = min(_non_negative_int(schema.get("minItems"), 0), _MAX_ITEMS)
        prefix = _sequence(schema.get("prefixItems"))
        items = schema.get("items")
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems")
        values = []
        for index in range(count):
            item_schema = prefix[index] if index < len(prefix) else items
            values.append(self.value(item_schema, depth + 1, refs))
        if schema.get("uniqueItems") is True:
            values = _distinct(values)
        return values

    def _object(self, schema: Mapping[str, Any], depth: int, refs: frozenset[str]) -> dict[str, Any]:
        properties = _mapping(schema.get("properties"))
        extra = schema.get("additionalProperties")
        result: dict[str, Any] = {}
        for name in _sequence(schema.get("required")):
            if not isinstance(name, str) or name in result:
                continue
            result[name] = self.value(properties.get(name, extra), depth + 1, refs)
        return result


def _first_option(options: list[Any]) -> Any:
    """The first option that is not just ``null`` (``Optional[int]`` should still send an int)."""
    for option in options:
        if not (isinstance(option, Mapping) and option.get("type") == "null"):
            return option
    return options[0]


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        names = [name for name in kind if isinstance(name, str)]
        kind = next((name for name in names if name != "null"), names[0] if names else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _string(schema: Mapping[str, Any]) -> str:
    text: str | None = None
    examples = schema.get("examples")
    if isinstance(examples, list) and examples and isinstance(examples[0], str):
        text = examples[0]
    elif isinstance(schema.get("example"), str):
        text = schema["example"]
    if text is None:
        fmt = schema.get("format")
        text = _FORMAT_EXAMPLES.get(fmt, "test") if isinstance(fmt, str) else "test"
    low = min(_non_negative_int(schema.get("minLength"), 0), _MAX_LENGTH)
    high = _non_negative_int(schema.get("maxLength"), -1)
    if len(text) < low:
        text += "x" * (low - len(text))
    if 0 <= high < len(text):
        text = text[:high]
    return text


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(low, low is exclusive, high, high is exclusive), accepting both draft-4 and later forms."""
    low, high = _finite(schema.get("minimum")), _finite(schema.get("maximum"))
    low_open = high_open = False
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if exclusive_low is True:
        low_open = low is not None
    elif _finite(exclusive_low) is not None:
        low, low_open = _finite(exclusive_low), True
    if exclusive_high is True:
        high_open = high is not None
    elif _finite(exclusive_high) is not None:
        high, high_open = _finite(exclusive_high), True
    return low, low_open, high, high_open


def _integer(schema: Mapping[str, Any]) -> int:
    low, low_open, high, high_open = _bounds(schema)
    lo = None if low is None else (math.floor(low) + 1 if low_open else math.ceil(low))
    hi = None if high is None else (math.ceil(high) - 1 if high_open else math.floor(high))
    if lo is not None and hi is not None:
        return (lo + hi) // 2 if lo <= hi else lo
    if lo is not None:
        return max(lo, 1)
    if hi is not None:
        return min(hi, 1)
    return 1


def _number(schema: Mapping[str, Any]) -> float:
    low, low_open, high, high_open = _bounds(schema)
    if low is not None and high is not None:
        return low / 2 + high / 2  # not (low + high) / 2: that overflows near the float limit
    if low is not None:
        return max(low + 1, 1) if low_open else max(low, 1)
    if high is not None:
        return min(high - 1, 1) if high_open else min(high, 1)
    return 1


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and abs(value) > 2**53:
        return float(value)
    return value


def _non_negative_int(value: Any, fallback: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return fallback
    if isinstance(value, float) and not math.isfinite(value):
        return fallback
    return max(0, int(min(value, 2**31)))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _distinct(values: list[Any]) -> list[Any]:
    """Make repeated strings or numbers differ, for ``uniqueItems``; other values stay as they are."""
    out: list[Any] = []
    for index, value in enumerate(values):
        if index and isinstance(value, str):
            out.append(f"{value}{index}")
        elif index and isinstance(value, int | float) and not isinstance(value, bool):
            out.append(value + index)
        else:
            out.append(value)
    return out
