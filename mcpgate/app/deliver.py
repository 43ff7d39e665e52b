"""A run's results handed over: the console summary, then every file asked for.

A file that cannot be written is one line on stderr, never a crash: the other
files and the exit code still come out. A run and a merge deliver the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from mcpgate.report.console import render_summary
from mcpgate.report.junit import render_junit
from mcpgate.report.markdown import render_markdown
from mcpgate.results.io import write
from mcpgate.results.schema import Results


@dataclass(frozen=True)
class Outputs:
    """Where a run's or a merge's results go, besides the console."""

    out: Path | None = None  # the results file (JSON)
    markdown: Path | None = None  # the Markdown summary
    junit: Path | None = None  # JUnit XML
    summary_template: Path | None = None  # a user's own Markdown template
    summary: bool = True  # the console summary


def deliver(results: Results, options: Outputs, out: TextIO, err: TextIO) -> None:
    """Summary on the console, then every file asked for; a file that cannot be written is one line, not a crash."""
    if options.summary:
        with contextlib.suppress(OSError):  # a closed stdout must not cost the results file
            out.write(render_summary(results) + "\n")
            out.flush()
    files: list[tuple[Path | None, Callable[[], str | None]]] = [
        (options.markdown, lambda: render_markdown(results, template=options.summary_template)),
        (options.junit, lambda: render_junit(results)),
    ]
    if options.out is not None:
        try:
            write(results, options.out)
        except OSError as exc:
            _complain(err, f"could not write {options.out}: {exc.strerror or exc}")
    for path, render in files:
        if path is None:
            continue
        try:
            text = render()
            if text is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        except OSError as exc:
            _complain(err, f"could not write {path}: {exc.strerror or exc}")
        except ValueError as exc:  # a user's summary template that does not render
            _complain(err, str(exc))


def _complain(err: TextIO, message: str) -> None:
    with contextlib.suppress(OSError):
        err.write(f"mcpgate: error: {message}\n")
