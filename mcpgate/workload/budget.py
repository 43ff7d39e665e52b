"""What one call's template render may spend, and how big a value is about to be.

Jinja's sandbox stops a template from reaching the process (no attributes starting with '_', no
globals but ours, no loaders), not from spending it: ``'a' * 10**10``, ``9 ** 10**8`` or three
nested loops over a long string are all allowed there. So every operation that can make a value
bigger than its inputs (operators, calls, filters, output, ``~``, list and dict literals) measures
what it is about to build, and every render of a call has a budget of steps (loop turns, calls,
filters, tests, operators), of characters built, and a deadline that backstops work no count sees.
Past any of them the call fails with a TemplateError, as any other template that cannot render.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Mapping, Sized
from typing import Any, Final

from jinja2.exceptions import SecurityError

MAX_TEMPLATE_VALUE: Final = 1 << 20  # characters, or items, in one value a template builds
MAX_TEMPLATE_STEPS: Final = 200_000  # loop turns, calls, filters (and the items they go through), operators
MAX_TEMPLATE_BUILT: Final = 16 << 20  # characters (or items) built per call, all values together
MAX_TEMPLATE_SECONDS: Final = 1.0  # per call: no legitimate template comes within a factor 1000 of it
MAX_INT_BITS: Final = 4096  # far past what JSON (64 bits) can carry, far below a slow number


class Guard:
    """What one call's render may still spend."""

    __slots__ = ("built", "deadline", "steps")

    def __init__(self) -> None:
        self.steps = MAX_TEMPLATE_STEPS
        self.built = MAX_TEMPLATE_BUILT
        self.deadline = time.monotonic() + MAX_TEMPLATE_SECONDS

    def step(self, built: int = 0, steps: int = 1) -> None:
        self.steps -= steps
        self.built -= built
        if self.steps < 0:
            raise SecurityError(f"more than {MAX_TEMPLATE_STEPS} steps (loop turns, calls, operators) in one call")
        if self.built < 0:
            raise SecurityError(f"builds more than {MAX_TEMPLATE_BUILT} characters in one call")
        if time.monotonic() > self.deadline:
            raise SecurityError(f"takes longer than {MAX_TEMPLATE_SECONDS:g}s for one call")

    def value(self, value: Any) -> Any:
        """``value``, once it is known to be small enough to keep; charged to the budget."""
        self.step(_checked_size(value))
        return value


def size_of(value: Any) -> int:
    """How big ``value`` is written out: the characters of strings and numbers, and for a container
    one per item plus its items' own sizes. A list that holds another list four times counts it
    four times, as ``str()`` writes it four times (each shared part is measured once, though)."""
    return len(value) if isinstance(value, str) else _measure(value, {})[0]


def _depth(value: Any) -> int:
    """How deeply ``value``'s containers nest: what indentation multiplies in ``tojson`` or ``pprint``."""
    return 0 if isinstance(value, str) else _measure(value, {})[1]


def _measure(value: Any, seen: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(size, depth), stopping early once the size is past what any value may hold."""
    if isinstance(value, str | bytes):
        return len(value), 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 1, 0
    if isinstance(value, Mapping):
        children: Any = (part for pair in value.items() for part in pair)
    elif isinstance(value, list | tuple | set | frozenset):
        children = value
    else:
        return 1, 0
    known = seen.get(id(value))
    if known is not None:
        return known
    size, depth = len(value) + 1, 0
    for child in children:
        child_size, child_depth = _measure(child, seen)
        size, depth = size + child_size, max(depth, child_depth)
        if size > MAX_TEMPLATE_VALUE:
            break
    seen[id(value)] = (size, depth + 1)
    return size, depth + 1


def _checked_size(value: Any) -> int:
    size = size_of(value)
    if size > MAX_TEMPLATE_VALUE:
        raise SecurityError(f"builds a value larger than {MAX_TEMPLATE_VALUE} characters")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"builds a number larger than {MAX_INT_BITS} bits")
    return size


def refuse_above(estimate: int) -> None:
    if estimate > MAX_TEMPLATE_VALUE:
        raise SecurityError(f"would build a value larger than {MAX_TEMPLATE_VALUE} characters")


_PRINTF: Final = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?.")


def printf_estimate(fmt: str, args: Any) -> int:
    """An upper bound on ``fmt % args``: each conversion as wide as its width or the widest argument."""
    values = list(args.values()) if isinstance(args, Mapping) else list(args) if isinstance(args, tuple) else [args]
    widest = max((size_of(v) for v in values), default=0)
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    total = len(fmt)
    for match in _PRINTF.finditer(fmt):
        width = 0
        for spec in match.groups():
            if spec == "*":
                width = max(width, *numbers, 0)
            elif spec is not None:
                width = max(width, int(spec) if len(spec) < 12 else MAX_TEMPLATE_VALUE + 1)
        total += width + widest
    return total


def format_estimate(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound on ``fmt.format(...)``: each field as wide as its width or the widest argument."""
    values = [*args, *kwargs.values()]
    if len(values) == 1 and isinstance(values[0], Mapping):  # format_map
        values = list(values[0].values())
    widest = max((size_of(v) for v in values), default=0)
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    total = len(fmt)
    try:
        fields = [spec for _, name, spec, _ in string.Formatter().parse(fmt) if name is not None]
    except ValueError:
        return total  # the call itself will say what is wrong with the format
    for spec in fields:
        width = max(
            (int(d) if len(d) < 12 else MAX_TEMPLATE_VALUE + 1 for d in re.findall(r"\d+", spec or "")), default=0
        )
        if spec and "{" in spec:
            width = max(width, *numbers, 0)
        total += width + widest
    return total


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def str_method_estimate(name: str, text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound on what a ``str`` method builds, for the methods that can build more than they get."""
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(len(text), _int(args[0] if args else kwargs.get("width"), 0))
    if name == "expandtabs":
        return len(text) + text.count("\t") * _int(args[0] if args else kwargs.get("tabsize"), 8)
    if name == "join" and args:
        items = args[0]
        count = len(items) if isinstance(items, Sized) else MAX_TEMPLATE_VALUE
        return len(text) * count + size_of(items)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        found = text.count(args[0]) if args[0] else len(text) + 1
        return len(text) + found * len(args[1])
    if name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        return len(text) * max(longest, 1)
    return 0


# Filters whose output can outgrow their input: an upper bound from the value and the arguments.
def filter_estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    size = size_of(value)
    first = args[0] if args else None
    if name == "center":
        return max(size, _int(first if args else kwargs.get("width"), 80))
    if name == "indent":
        width = first if args else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else _int(width, 4)
        lines = value.count("\n") + 1 if isinstance(value, str) else size
        return size + lines * pad
    if name == "wordwrap":
        wrap = kwargs.get("wrapstring") or (args[2] if len(args) > 2 else None) or "\n"
        return (size + 1) * (1 + (len(wrap) if isinstance(wrap, str) else 1))
    if name == "format":
        return printf_estimate(str(value), kwargs or args)
    if name == "join":
        separator = first if args else kwargs.get("d", "")
        count = len(value) if isinstance(value, Sized) else size
        return size + count * (len(separator) if isinstance(separator, str) else 1)
    if name == "replace" and len(args) >= 2 and isinstance(value, str):
        old, new = str(args[0]), str(args[1])
        return size + (value.count(old) if old else size + 1) * len(new)
    if name in ("batch", "slice"):
        return size + _int(first if args else kwargs.get("linecount", kwargs.get("slices")), 0)
    if name == "tojson":
        indent = first if args else kwargs.get("indent")
        return size * (2 + (len(indent) if isinstance(indent, str) else _int(indent, 0)) * _depth(value))
    if name == "pprint":
        return size * (2 + _depth(value))
    if name == "sum" and isinstance(value, Sized):
        return size * (len(value) + 1)  # adding lists or strings copies the total each time
    return size
