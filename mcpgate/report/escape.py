"""Any text as inert Markdown: what keeps server and config strings from breaking a job summary."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
# Backslash-escape what could start inline syntax, and no more, so the raw text stays readable:
# always code spans, emphasis, links, strikethrough, math and cell pipes; "_" unless inside a word
# (GFM ignores intraword underscores); "<" only where it could open a tag or an autolink; "&" only
# where it could start an entity. The unconditional ones go through str.replace, which is fast.
_MD_ALWAYS = "\\`*[]~|$"  # the backslash first, so the escapes added after it stay single
_MD_SOMETIMES = re.compile(r"(?<![^\W_])_|_(?![^\W_])|<(?=[A-Za-z/!?])|&(?=[#A-Za-z])")


def md_cell(value: object, limit: int | None = None) -> str:
    """Any text as one line of inert Markdown, safe inside a table cell or a sentence.

    Server and config strings must not break a table (pipes, newlines), open
    code spans, links, emphasis or math, or inject HTML (``</details>``,
    ``<img>``): whitespace runs become one space, control characters go, and
    what could start inline syntax is backslash-escaped. ``limit`` cuts the
    text (before escaping) with "…".
    """
    text = "" if value is None else str(value)
    if not text.isprintable():  # a fast test first: most text has no control characters
        text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + "…"
    for char in _MD_ALWAYS:
        if char in text:
            text = text.replace(char, "\\" + char)
    if "_" in text or "<" in text or "&" in text:
        text = _MD_SOMETIMES.sub(_backslash, text)
    return text


def _backslash(match: re.Match[str]) -> str:
    return "\\" + match.group()
