"""The request model's options as command-line flags, and flags read back into a request's fields.

The flags are made from the same ``Option`` table the Action reads, so an
option exists on both doors by construction. A few options keep argparse's
own way of reading them (``typed``: their errors say ``argument --timeout:
...``); the others are read here with the same reader the Action uses, and
their errors name the option, which ``label`` spells as the flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from mcpgate.app.requests import MERGE_OPTIONS, RUN_OPTIONS, Option
from mcpgate.support.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are ours: one line, exit 104."""

    def error(self, message: str) -> NoReturn:
        raise UsageError("", f"{self.prog}: {message}")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # Python 3.11 reads "--timeout=--" as an empty list, never calling the flag's type.
        if arg_strings == ["--"] and action.option_strings and action.nargs is None:
            self.error(f"argument {'/'.join(action.option_strings)}: expected one argument")
        return super()._get_values(action, arg_strings)


def _typed(read: Callable[[str], Any]) -> Callable[[str], Any]:
    """A reader as argparse calls a flag's type: its message kept, not argparse's 'invalid value'."""

    def convert(text: str) -> Any:
        try:
            return read(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(read, "__name__", "value")
    return convert


def add_options(parser: argparse.ArgumentParser | Any, options: Iterable[Option]) -> None:
    """One flag per option; a flag not given is left out of the namespace, so the request's default holds."""
    for option in options:
        names = [option.cli_flag, *([option.short] if option.short else [])]
        kwargs: dict[str, Any] = {"dest": option.field, "help": option.help}
        if option.read is None:
            kwargs["action"] = "store_true"
        else:
            if option.metavar:
                kwargs["metavar"] = option.metavar
            if option.choices:
                kwargs["choices"] = option.choices
            elif option.typed:
                kwargs["type"] = _typed(option.read)
            kwargs.update(action="append", default=[]) if option.many else kwargs.update(default=argparse.SUPPRESS)
        parser.add_argument(*names, **kwargs)


def read_options(args: argparse.Namespace, options: Iterable[Option]) -> dict[str, Any]:
    """The request fields the flags give; an untyped option's reader runs here, naming the option."""
    fields: dict[str, Any] = {}
    for option in options:
        if not hasattr(args, option.field):
            continue  # not given: the request's default
        value = getattr(args, option.field)
        if option.read is not None and not option.typed and not option.choices and value is not None:
            value = [_read(option, item) for item in value] if option.many else _read(option, value)
        if option.many:
            value = tuple(value or ())
        fields[option.field] = value
    return fields


def _read(option: Option, text: str) -> Any:
    assert option.read is not None
    try:
        return option.read(text)
    except ValueError as exc:
        raise UsageError(option.name, str(exc)) from None


_LABELS = {o.name: o.cli_flag for o in (*RUN_OPTIONS, *MERGE_OPTIONS)}
_LABELS.update({"files": ""})


def label(field: str, more: Sequence[tuple[str, str]] = ()) -> str:
    """An error's field as the command line spells it: ``max-regression`` -> ``--max-regression``."""
    labels = {**_LABELS, **dict(more)}
    if field in labels:
        return labels[field]
    head, sep, rest = field.partition(" (")
    return f"{labels[head]} ({rest}" if sep and head in labels else field


def relabeled(exc: UsageError, more: Sequence[tuple[str, str]] = ()) -> UsageError:
    """The same error, its field spelled as the command line spells it."""
    shown = label(exc.field, more)
    return exc if shown == exc.field else UsageError(shown, exc.message)
