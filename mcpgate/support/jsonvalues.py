"""JSON values named in messages: "got an array", "item 3 is a string"."""

from __future__ import annotations

from typing import Any


def kind(value: Any) -> str:
    """The kind of a parsed JSON value, with its article: "an object", "a number", "null"."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"
