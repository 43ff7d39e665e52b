"""Config sections written inline, one line at a time: the tool mix and a breakpoint search's steps.

A CI input or a command line is easier to write than a YAML file: the tool mix
as ``name[: weight] [arguments]`` lines (arguments a JSON object or ``auto``),
or the path of a YAML/JSON file holding the same list as ``flow.tools``; the
search as the ``breakpoint`` section's ``key: value`` lines. Each becomes the
section a config file would hold, checked by the config's own validation, so
a mistake reads the same however it was written. ``field`` names the option
(each door spells it its own way); a line's mistake names its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from mcpgate.config.loader import validate_config
from mcpgate.support.errors import UsageError
from mcpgate.workload.templates import ArgumentTemplate

_FILE_SUFFIXES = (".yaml", ".yml", ".json")
_NOWHERE = {"url": "http://localhost/"}  # a target, so a section can be validated alone


def tools(lines: Sequence[str], base: Path, field: str) -> list[dict[str, Any]] | None:
    """The weighted tool mix (``flow.tools``) from its lines, or from the one file they name."""
    given = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not given:
        return None
    if len(given) == 1 and given[0].endswith(_FILE_SUFFIXES):
        return _tools_file(base / given[0], given[0], field)
    return [_tool_line(line, f"{field} (line {number})") for number, line in enumerate(given, 1)]


def _tools_file(path: Path, shown: str, field: str) -> list[dict[str, Any]]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(field, f"{shown}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(field, f"{shown}: not valid UTF-8") from None
    except ValueError:  # a NUL in the name
        raise UsageError(field, f"{shown}: not a valid file name") from None
    except yaml.YAMLError as exc:
        raise UsageError(field, f"{shown}: not valid YAML or JSON ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise UsageError(field, f"{shown}: nested too deeply") from None
    if isinstance(loaded, dict) and "tools" in loaded:
        loaded = loaded["tools"]
    if not isinstance(loaded, list) or not all(isinstance(t, dict) for t in loaded):
        raise UsageError(field, f"{shown}: expected a list of tools like flow.tools")
    for index, item in enumerate(loaded, 1):
        _check_tool(item, field, f"{shown}: item {index}: ")
    return loaded


def _tool_line(line: str, where: str) -> dict[str, Any]:
    """``get_record: 50 {"id": "rec_1"}``, ``search auto``, ``ping``."""
    head, brace, rest = line.partition("{")
    arguments: Any = {}
    if brace:
        try:
            arguments = orjson.loads("{" + rest)
        except orjson.JSONDecodeError:
            raise UsageError(where, "the arguments after the name are not a JSON object") from None
    elif head.rstrip().endswith(" auto") or head.strip() == "auto":
        arguments = "auto"
        head = head.rstrip()[: -len("auto")]
    name, _, weight = head.partition(":")
    name, weight = name.strip(), weight.strip()
    if not name:
        raise UsageError(where, 'expected \'name[: weight] [arguments]\', e.g. get_record: 50 {"id": "rec_1"}')
    tool: dict[str, Any] = {"name": name, "arguments": arguments}
    if weight:
        try:
            tool["weight"] = float(weight)
        except ValueError:
            raise UsageError(where, f"weight must be a number, got {weight!r}") from None
    _check_tool(tool, where)
    return tool


def _check_tool(tool: dict[str, Any], where: str, prefix: str = "") -> None:
    """What the config would say about this ``flow.tools`` item, said about the option."""
    try:
        config = validate_config({"target": _NOWHERE, "flow": {"tools": [tool]}}, {}, where)
    except UsageError as exc:  # "flow.tools.0.weight: must be > 0, got -1.0"
        raise UsageError(where, prefix + exc.message.removeprefix("flow.tools.0.")) from None
    arguments = config.flow.tools[0].arguments
    if isinstance(arguments, dict):
        try:
            ArgumentTemplate(arguments, "arguments")
        except UsageError as exc:
            raise UsageError(where, f"{prefix}{exc.field}: {exc.message}") from None


def breakpoint_section(lines: Sequence[str], field: str) -> dict[str, Any] | None:
    """The search's steps as the config's ``breakpoint`` section: ``key: value`` lines (YAML), checked alone."""
    text = "\n".join(lines)
    if not text.strip():
        return None
    try:
        section = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(field, f"not a YAML mapping ({str(exc).splitlines()[0]})") from None
    if not isinstance(section, dict):
        raise UsageError(field, "expected 'key: value' lines, e.g. 'start: 10', 'step: 10', 'max: 200'")
    try:
        validate_config({"target": _NOWHERE, "breakpoint": section}, {}, "breakpoint")
    except UsageError as exc:  # "breakpoint.step: must be > 0, got -1"
        raise UsageError(field, exc.message.removeprefix("breakpoint.").removeprefix("breakpoint: ")) from None
    return section
