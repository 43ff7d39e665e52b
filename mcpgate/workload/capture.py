"""Values a step takes from its answer for the steps after it (``capture:``), and what a check reads.

A capture is a JSONPath over the JSON-RPC result (``$.structuredContent.result[0]``) or a template
over the answer (``result``, ``structuredContent``, ``text``, ``args``, ``vars``). One that finds
nothing (no such path, null, an empty string) fails its step as ``capture_error``: a later step
would otherwise send garbage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mcpgate.protocol.outcome import shorten
from mcpgate.support.errors import UsageError
from mcpgate.support.jsonpath import Part, parse_path, resolve
from mcpgate.workload.templates import ArgumentTemplate, CallContext


def text_of(result: Mapping[str, Any]) -> str:
    """The text an answer carries: its text content blocks (tools/call), its messages' (prompts/get)
    or its contents' (resources/read), one per line."""
    texts: list[str] = []
    for block in blocks_of(result):
        text = block.get("text")
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


def blocks_of(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The answer's content blocks: ``content`` (tools/call), ``messages[].content`` (prompts/get),
    ``contents`` (resources/read)."""
    content = result.get("content")
    if isinstance(content, list):
        return [block for block in content if isinstance(block, dict)]
    messages = result.get("messages")
    if isinstance(messages, list):
        found = [m.get("content") for m in messages if isinstance(m, dict)]
        return [block for block in found if isinstance(block, dict)]
    contents = result.get("contents")
    if isinstance(contents, list):
        return [block for block in contents if isinstance(block, dict)]
    return []


def answer_names(result: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """What a capture's or a check's template sees of the answer, beside vu, iteration, row and vars."""
    return {
        "result": result,
        "structuredContent": result.get("structuredContent"),
        "text": text_of(result),
        "args": args,
    }


@dataclass(frozen=True, slots=True)
class Captures:
    """A step's ``capture:``, compiled: JSONPaths parsed, templates compiled once."""

    paths: tuple[tuple[str, str, tuple[Part, ...]], ...]  # (name, as written, parsed)
    template: ArgumentTemplate | None  # the template captures, rendered together
    names: tuple[str, ...]

    def take(self, result: Mapping[str, Any], ctx: CallContext, args: Mapping[str, Any]) -> dict[str, Any] | str:
        """The captured values, or why one found nothing (a one-line reason)."""
        values: dict[str, Any] = {}
        for name, written, path in self.paths:
            try:
                value = resolve(result, path)
            except LookupError as exc:
                return f"capture {name}: {written}: {exc}"
            if value is None or value == "":
                return f"capture {name}: {written} is {'null' if value is None else 'empty'}"
            values[name] = value
        if self.template is not None:
            try:
                rendered = self.template.render(replace(ctx, extra=answer_names(result, args)))
            except ValueError as exc:
                return f"capture: {shorten(str(exc), 200)}"
            for name, value in rendered.items():
                if value is None or value == "":
                    return f"capture {name}: found nothing"
                values[name] = value
        return values


def compile_captures(capture: Mapping[str, str], where: str) -> Captures | None:
    if not capture:
        return None
    paths: list[tuple[str, str, tuple[Part, ...]]] = []
    templates: dict[str, str] = {}
    for name, source in capture.items():
        if source.lstrip().startswith("$") and "{{" not in source:
            try:
                paths.append((name, source, parse_path(source)))
            except ValueError as exc:
                raise UsageError(f"{where}.{name}", str(exc)) from None
        else:
            templates[name] = source
    template = ArgumentTemplate(templates, where) if templates else None
    return Captures(tuple(paths), template, tuple(capture))
