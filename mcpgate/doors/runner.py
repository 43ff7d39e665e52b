"""The GitHub runner's side of the Action: workflow commands on stdout, and the runner's files.

Outside GitHub (``GITHUB_ACTIONS`` unset, as under ``docker run``) no workflow
commands are printed, and files are written only where their variables point.
"""

from __future__ import annotations

import contextlib
import secrets as random_tokens
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

STEP_SUMMARY_LIMIT = 1024 * 1024  # GitHub drops a step summary over 1 MiB
SUMMARY_BUDGET = STEP_SUMMARY_LIMIT - 16 * 1024  # room for what other sections add


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Runner:
    """Talks to the GitHub runner: workflow commands on stdout, and its files."""

    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        self.on_github = environ.get("GITHUB_ACTIONS") == "true"
        self.stream = stream or sys.stdout
        self.output_file = environ.get("GITHUB_OUTPUT") or None
        self.summary_file = environ.get("GITHUB_STEP_SUMMARY") or None

    def command(self, name: str, message: str = "", **props: str) -> None:
        if not self.on_github:
            if name in ("error", "warning", "notice"):
                title = f"{props['title']}: " if props.get("title") else ""
                self.stream.write(f"{name}: {title}{message}\n")
            return
        rendered = ",".join(f"{k}={escape_property(v)}" for k, v in props.items() if v)
        self.stream.write(f"::{name}{' ' + rendered if rendered else ''}::{escape_data(message)}\n")
        self.stream.flush()

    def mask(self, secret: str) -> None:
        for line in secret.splitlines() or [secret]:
            if line.strip():
                self.command("add-mask", line)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.on_github:
            self.command("group", title)
        else:
            self.stream.write(f"== {title}\n")
        self.stream.flush()
        try:
            yield
        finally:
            if self.on_github:
                self.command("endgroup")

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        if self.output_file is None:
            return
        with open(self.output_file, "a", encoding="utf-8") as out:
            for name, value in outputs.items():
                delimiter = f"ghadelimiter_{random_tokens.token_hex(8)}"
                out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def add_summary(self, markdown: str) -> None:
        if self.summary_file is None or not markdown:
            return
        data = markdown.encode("utf-8")
        if len(data) > SUMMARY_BUDGET:
            cut = data[:SUMMARY_BUDGET].decode("utf-8", "ignore")
            markdown = cut.rsplit("\n", 1)[0] + "\n\n_(summary cut to stay under GitHub's 1 MiB limit)_\n"
        with open(self.summary_file, "a", encoding="utf-8") as out:
            out.write(markdown)
