"""A step's ``expect:``: what its answer must say, beyond the protocol's own judgement.

An answer with the right id can still be the wrong answer (a server that mixes up sessions hands
one request another's result); the checks read the content, with expected values that may be
templates over the call's own arguments (``{{ args.id }}``), so such an answer fails as
``check_failed``. ``content_type`` holds when there is a content block and every one has that type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from mcpgate.config.steps import ExpectConfig
from mcpgate.protocol.outcome import OK, Kind, Outcome, shorten
from mcpgate.support.errors import UsageError
from mcpgate.support.jsonpath import Part, parse_path, resolve
from mcpgate.workload.capture import answer_names, blocks_of, text_of
from mcpgate.workload.templates import ArgumentTemplate, CallContext

_SHOWN = 60  # characters of an answer a failed check repeats


class Expect:
    """Compiled once; ``check`` per answer."""

    __slots__ = ("_content_type", "_paths", "_template", "where")

    def __init__(self, config: ExpectConfig, where: str) -> None:
        self.where = where
        values: dict[str, Any] = {
            key: getattr(config, key)
            for key in ("text_contains", "text_equals", "text_matches")
            if getattr(config, key) is not None
        }
        self._paths: dict[str, tuple[Part, ...]] = {}
        for path in config.json_:
            try:
                self._paths[path] = parse_path(path)
            except ValueError as exc:
                raise UsageError(f"{where}.json", str(exc)) from None
        if config.json_:
            values["json"] = dict(config.json_)
        self._template = ArgumentTemplate(values, where)
        self._content_type = config.content_type
        if config.text_matches is not None and "{{" not in config.text_matches:
            try:
                re.compile(config.text_matches)
            except re.error as exc:
                raise UsageError(f"{where}.text_matches", f"not a regular expression: {exc}") from None

    def check(self, result: Mapping[str, Any], ctx: CallContext, args: Mapping[str, Any]) -> Outcome:
        try:
            want = self._template.render(replace(ctx, extra=answer_names(result, args)))
        except ValueError as exc:
            return _failed(f"cannot render: {exc}")
        text = text_of(result)
        problem = _text_problem(want, text) or self._json_problem(want.get("json", {}), result)
        if problem is None and self._content_type is not None:
            types = [block.get("type") for block in blocks_of(result)]
            if not types or any(kind != self._content_type for kind in types):
                problem = f"content_type: expected every block {self._content_type!r}, got {types}"
        return OK if problem is None else _failed(problem)

    def _json_problem(self, want: Mapping[str, Any], result: Mapping[str, Any]) -> str | None:
        for path, expected in want.items():
            try:
                got = resolve(result, self._paths[path])
            except LookupError as exc:
                return f"json {path}: {exc}"
            if got != expected:
                return f"json {path}: expected {_show(expected)}, got {_show(got)}"
        return None


def _text_problem(want: Mapping[str, Any], text: str) -> str | None:
    contains = want.get("text_contains")
    if contains is not None and str(contains) not in text:
        return f"text_contains: {_show(contains)} not in {_show(text)}"
    equals = want.get("text_equals")
    if equals is not None and text != str(equals):
        return f"text_equals: expected {_show(equals)}, got {_show(text)}"
    pattern = want.get("text_matches")
    if pattern is not None:
        try:
            matched = re.search(str(pattern), text) is not None
        except re.error as exc:
            return f"text_matches: not a regular expression: {exc}"
        if not matched:
            return f"text_matches: {_show(pattern)} does not match {_show(text)}"
    return None


def _show(value: Any) -> str:
    return shorten(repr(value), _SHOWN)


def _failed(reason: str) -> Outcome:
    return Outcome(Kind.CHECK_FAILED, f"expect {reason}")
