"""The Action's inputs (``INPUT_*`` variables) read into the same requests the CLI's flags become.

The runner passes inputs as ``INPUT_<NAME>``, upper case with hyphens kept
(``INPUT_BEARER-TOKEN``); ``docker run -e`` users may write underscores, which
shells can export. Every run option is read from the request model's own
table, with the reader the CLI uses; a repeatable option is one line each.
An error names the input as the user wrote it: ``max-regression`` in a
workflow, the variable (``INPUT_MAX-REGRESSION``) under ``docker run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mcpgate.app.requests import RUN_OPTIONS, Option
from mcpgate.config import values
from mcpgate.protocol.wire.proxy import PROXY_VARIABLES
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor, sensitive_name

T = TypeVar("T")

# Options the Action has its own convention for: the output files go into results-dir.
_OUTPUT_FILES = ("out", "markdown", "junit")
# Fields the application names that the Action spells otherwise.
_SPELLED = {"files": "merge", "sessions": "smoke-sessions", "min_cert_days": "min-cert-days", "URL": "url"}
# Repeatable inputs read as whole text by the application (YAML, or a tool mix): lines kept as written.
_VERBATIM = ("tools", "breakpoint")


def read_input(environ: Mapping[str, str], name: str) -> str:
    return _raw(environ, name)[1].strip()


def _raw(environ: Mapping[str, str], name: str) -> tuple[str, str]:
    """The variable that holds input ``name`` (hyphens kept, or as underscores), and its value."""
    key = "INPUT_" + name.replace(" ", "_").upper()
    if key in environ:
        return key, environ[key]
    underscored = key.replace("-", "_")
    return (underscored, environ[underscored]) if underscored in environ else (key, "")


@dataclass(frozen=True)
class Inputs:
    """The inputs of one step, and how to name them to the user."""

    environ: Mapping[str, str]

    @property
    def on_github(self) -> bool:
        return self.environ.get("GITHUB_ACTIONS") == "true"

    def text(self, name: str) -> str:
        return read_input(self.environ, name)

    def label(self, field: str) -> str:
        """A field as this door spells it: the input's name in a workflow, its variable under docker run."""
        head, sep, rest = field.partition(" (")
        name = _SPELLED.get(head, head)
        known = {o.action_input for o in RUN_OPTIONS} | set(_SPELLED.values()) | set(ACTION_INPUTS)
        if name not in known:
            return field
        shown = name if self.on_github else _raw(self.environ, name)[0]
        return f"{shown}{sep}{rest}"

    def relabeled(self, exc: UsageError) -> UsageError:
        shown = self.label(exc.field)
        return exc if shown == exc.field else UsageError(shown, exc.message)

    def one_line(self, name: str) -> str:
        """A one-value input: a line break or a control character in it is a mistake, never part of it."""
        text = self.text(name)
        if not text.isprintable():  # the value is never repeated: it may be a secret
            raise UsageError(name, "must be one line, without control characters")
        return text

    def value(self, name: str, read: Callable[[str], T], default: T) -> T:
        """One input read with ``read``; ``default`` when it is empty."""
        text = self.one_line(name)
        if not text:
            return default
        try:
            return read(text)
        except ValueError as exc:
            raise UsageError(name, str(exc)) from None

    def option(self, option: Option) -> Any:
        """A run option's value from its input; None when the input is empty."""
        if option.many:
            return self._lines(option)
        if option.read is None:
            return self.value(option.name, values.boolean, False)
        return self.value(option.name, option.read, None)

    def _lines(self, option: Option) -> tuple[Any, ...]:
        lines = self.text(option.name).splitlines()
        if option.name in _VERBATIM:
            return tuple(lines) if any(line.strip() for line in lines) else ()
        read = option.line or option.read
        assert read is not None
        found = []
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                found.append(read(line))
            except ValueError as exc:
                raise UsageError(f"{option.name} (line {number})", str(exc)) from None
        return tuple(found)

    def run_fields(self) -> dict[str, Any]:
        """Every run option the inputs give (the output files excepted: they go into results-dir)."""
        fields: dict[str, Any] = {}
        for option in RUN_OPTIONS:
            if option.name in _OUTPUT_FILES:
                continue
            value = self.option(option)
            if value is not None and value != ():
                fields[option.field] = value
        return fields

    def given(self, names: tuple[str, ...]) -> list[str]:
        return [name for name in names if self.text(name)]

    def secrets(self) -> list[str]:
        """The secret inputs as given, before any parsing can fail and print: masked first of all."""
        found = [self.text(name) for name in ("bearer-token", "monitor-token", "client-secret", "refresh-token")]
        for line in self.text("headers").splitlines():
            name, sep, value = line.partition(":")
            if sep and sensitive_name(name.strip()) and value.strip():
                found.append(value.strip())
                _, _, credential = value.strip().partition(" ")
                if credential:
                    found.append(credential.strip())
        for proxy in (self.text("proxy"), *(self.environ.get(name, "") for name in PROXY_VARIABLES)):
            if proxy.strip():
                redact = Redactor()
                redact.add_url(proxy.strip() if "://" in proxy else f"http://{proxy.strip()}")
                found.extend(redact.secrets)
        return [s for s in found if s]


# The Action's own inputs, besides the run's options: what the step does, and its post-deploy checks.
ACTION_INPUTS = (
    "fail-on-thresholds",
    "summary",
    "results-dir",
    "smoke-only",
    "smoke-sessions",
    "min-cert-days",
    "monitor-url",
    "monitor-token",
    "monitor-status-path",
    "monitor-expected",
    "monitor-wait",
    "monitor-interval",
    "monitor-timeout",
    "merge",
)
