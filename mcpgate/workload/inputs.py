"""What a tool call sends: argument templates, dataset rows, and arguments made from a JSON Schema.

Templates are compiled once, when the plan is built, and rendered per call from a small
``CallContext``; randomness comes only from the VU's own RNG so a seeded run repeats exactly.
The sandbox exposes the call's numbers and a few helpers, nothing of the process around it.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import random
import re
import string
import time
import uuid as uuid_module
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import jinja2
import orjson
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

from mcpgate.support.errors import UsageError
from mcpgate.support.jsonvalues import kind

# --- templates -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallContext:
    """Everything a template may know about the call it renders."""

    vu: int  # 1-based VU number
    iteration: int  # 0-based iteration of that VU
    scenario: str
    rng: random.Random  # the VU's own RNG (for repeatable runs with a seed)
    row: Mapping[str, Any] | None = None  # the dataset row for this call, when the tool names a dataset


class TemplateError(ValueError):
    """A template failed while rendering one call: a one-line message naming where."""


# The RNG travels in the render context under a name no template can spell, so helpers reach it
# and templates cannot (``{{ rng.seed(0) }}`` would otherwise break every other call's randomness).
_RNG: Final = "mcpgate:rng"
_RESULT: Final = "result"  # where a single-expression leaf leaves its value in the context
_JINJA_SYNTAX: Final = ("{{", "{%", "{#")
_NO_LOADER_NODES: Final = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport, nodes.Block)


@jinja2.pass_context
def _randint(context: jinja2.runtime.Context, a: int, b: int) -> int:
    rng: random.Random = context[_RNG]
    return rng.randint(a, b)


@jinja2.pass_context
def _choice(context: jinja2.runtime.Context, seq: Sequence[Any]) -> Any:
    rng: random.Random = context[_RNG]
    if not isinstance(seq, Sequence):
        seq = list(seq)
    if not seq:
        raise ValueError("choice() got an empty sequence")
    return rng.choice(seq)


@jinja2.pass_context
def _uuid(context: jinja2.runtime.Context) -> str:
    rng: random.Random = context[_RNG]
    return str(uuid_module.UUID(int=rng.getrandbits(128), version=4))


@jinja2.pass_context
def _random(context: jinja2.runtime.Context) -> float:
    rng: random.Random = context[_RNG]
    return rng.random()


_HELPERS: Final[Mapping[str, Any]] = {"randint": _randint, "choice": _choice, "uuid": _uuid, "random": _random}


# --- bounds: a template computes a value, it does not get to exhaust the machine -------------------
#
# Jinja's sandbox stops a template from reaching the process (no attributes starting with '_', no
# globals but ours, no loaders), not from spending it: ``'a' * 10**10``, ``9 ** 10**8`` or three
# nested loops over a long string are all allowed there. So every operation that can make a value
# bigger than its inputs (operators, calls, filters, output, ``~``, list and dict literals) measures
# what it is about to build, and every render of a call has a budget of steps (loop turns, calls,
# filters, tests, operators), of characters built, and a deadline that backstops work no count sees.
# Past any of them the call fails with a TemplateError, as any other template that cannot render.

MAX_TEMPLATE_VALUE: Final = 1 << 20  # characters, or items, in one value a template builds
MAX_TEMPLATE_STEPS: Final = 200_000  # loop turns, calls, filters (and the items they go through), operators
MAX_TEMPLATE_BUILT: Final = 16 << 20  # characters (or items) built per call, all values together
MAX_TEMPLATE_SECONDS: Final = 1.0  # per call: no legitimate template comes within a factor 1000 of it
_MAX_INT_BITS: Final = 4096  # far past what JSON (64 bits) can carry, far below a slow number
_GUARD: Final = "mcpgate:guard"  # like _RNG: a name no template can spell


class _Guard:
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


def _guard(context: jinja2.runtime.Context) -> _Guard:
    guard = context.get(_GUARD)
    return guard if isinstance(guard, _Guard) else _Guard()


def _size(value: Any) -> int:
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
    size = _size(value)
    if size > MAX_TEMPLATE_VALUE:
        raise SecurityError(f"builds a value larger than {MAX_TEMPLATE_VALUE} characters")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise SecurityError(f"builds a number larger than {_MAX_INT_BITS} bits")
    return size


def _refuse_above(estimate: int) -> None:
    if estimate > MAX_TEMPLATE_VALUE:
        raise SecurityError(f"would build a value larger than {MAX_TEMPLATE_VALUE} characters")


_PRINTF: Final = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?.")


def _printf_estimate(fmt: str, args: Any) -> int:
    """An upper bound on ``fmt % args``: each conversion as wide as its width or the widest argument."""
    values = list(args.values()) if isinstance(args, Mapping) else list(args) if isinstance(args, tuple) else [args]
    widest = max((_size(v) for v in values), default=0)
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


def _format_estimate(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound on ``fmt.format(...)``: each field as wide as its width or the widest argument."""
    values = [*args, *kwargs.values()]
    if len(values) == 1 and isinstance(values[0], Mapping):  # format_map
        values = list(values[0].values())
    widest = max((_size(v) for v in values), default=0)
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


def _str_method_estimate(name: str, text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound on what a ``str`` method builds, for the methods that can build more than they get."""
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(len(text), _int(args[0] if args else kwargs.get("width"), 0))
    if name == "expandtabs":
        return len(text) + text.count("\t") * _int(args[0] if args else kwargs.get("tabsize"), 8)
    if name == "join" and args:
        items = args[0]
        count = len(items) if isinstance(items, Sized) else MAX_TEMPLATE_VALUE
        return len(text) * count + _size(items)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        found = text.count(args[0]) if args[0] else len(text) + 1
        return len(text) + found * len(args[1])
    if name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        return len(text) * max(longest, 1)
    return 0


# Filters whose output can outgrow their input: an upper bound from the value and the arguments.
def _filter_estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    size = _size(value)
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
        return _printf_estimate(str(value), kwargs or args)
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


# Filters that do Python work for each item of their value: each item is a step.
_ITERATING_FILTERS: Final = frozenset(
    {"map", "select", "reject", "selectattr", "rejectattr", "groupby", "unique", "dictsort", "batch", "slice"}
    | {"sort", "sum", "min", "max", "join"}
)


def _guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` run only after its output is known to fit, its result charged to the call."""
    pass_arg = _PassArg.from_obj(func)

    iterates = name in _ITERATING_FILTERS

    @jinja2.pass_context
    def guarded(context: jinja2.runtime.Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        guard = _guard(context)
        guard.step(steps=1 + (len(value) if iterates and isinstance(value, Sized) else 0))
        _refuse_above(_filter_estimate(name, value, args, kwargs))
        if pass_arg is _PassArg.context:
            result = func(context, value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, value, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = func(context.environment, value, *args, **kwargs)
        else:
            result = func(value, *args, **kwargs)
        return guard.value(result)

    return guarded


def _guarded_test(func: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = _PassArg.from_obj(func)

    @jinja2.pass_context
    def guarded(context: jinja2.runtime.Context, *args: Any, **kwargs: Any) -> Any:
        _guard(context).step()
        if pass_arg is _PassArg.context:
            return func(context, *args, **kwargs)
        if pass_arg is _PassArg.eval_context:
            return func(context.eval_ctx, *args, **kwargs)
        if pass_arg is _PassArg.environment:
            return func(context.environment, *args, **kwargs)
        return func(*args, **kwargs)

    return guarded


@jinja2.pass_context
def _loop_filter(context: jinja2.runtime.Context, iterable: Any, literal: int) -> Iterator[Any]:
    """Each turn of a ``{% for %}`` loop is a step, and its body's text is charged as built."""
    guard = _guard(context)
    for item in iterable:
        guard.step(literal)
        yield item


@jinja2.pass_context
def _concat_filter(context: jinja2.runtime.Context, parts: list[Any]) -> str:
    """``a ~ b``: measured before ``str()`` writes out what may be a large structure."""
    guard = _guard(context)
    _refuse_above(sum(_size(part) for part in parts))
    return str(guard.value("".join(str(part) for part in parts)))


@jinja2.pass_context
def _value_filter(context: jinja2.runtime.Context, value: Any) -> Any:
    """A list, tuple or dict literal: ``[a, a, a, a]`` is four times as big as ``a``."""
    return _guard(context).value(value)


@jinja2.pass_context
def _finalize(context: jinja2.runtime.Context, value: Any) -> Any:
    """Every ``{{ ... }}`` written into text: measured before it is written, charged as built."""
    return _guard(context).value(value)


_LOOP: Final = "mcpgate:loop"
_CONCAT: Final = "mcpgate:concat"
_VALUE: Final = "mcpgate:value"


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the growth of every value and the work of every call bounded."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        guard = _guard(context)
        guard.step()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _refuse_above(_size(seq) * times)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if left.bit_length() * right > _MAX_INT_BITS:
                raise SecurityError(f"builds a number larger than {_MAX_INT_BITS} bits")
        elif operator == "%" and isinstance(left, str):
            _refuse_above(_printf_estimate(left, right))
        return guard.value(super().call_binop(context, operator, left, right))

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        guard = _guard(__context)
        guard.step()
        method = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            name = getattr(method, "__name__", "")
            if name in ("format", "format_map"):
                _refuse_above(_format_estimate(owner, args, kwargs))
            else:
                _refuse_above(_str_method_estimate(name, owner, args, kwargs))
        return guard.value(super().call(__context, __obj, *args, **kwargs))


class _Bound(NodeTransformer):
    """Routes loops, ``~`` and non-constant literals through the guard filters above."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        literal = sum(len(data.data) for data in node.find_all(nodes.TemplateData))
        node.iter = _filter(node.iter, _LOOP, [nodes.Const(literal)])
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), _CONCAT)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return node if all(isinstance(i, nodes.Const) for i in node.items) else _filter(node, _VALUE)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        if node.ctx != "load" or all(isinstance(i, nodes.Const) for i in node.items):
            return node
        return _filter(node, _VALUE)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        constant = all(isinstance(p.key, nodes.Const) and isinstance(p.value, nodes.Const) for p in node.items)
        return node if constant else _filter(node, _VALUE)


def _filter(node: nodes.Node, name: str, args: list[nodes.Expr] | None = None) -> nodes.Filter:
    wrapped = nodes.Filter(node, name, args or [], [], None, None, lineno=node.lineno)
    wrapped.set_environment(_ENV)
    return wrapped


def _environment() -> ImmutableSandboxedEnvironment:
    """Immutable sandbox: no attribute tricks, and no ``row.update(...)`` changing shared data."""
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, finalize=_finalize)
    env.globals.clear()  # no range, lipsum, namespace...: only what the docs promise
    env.globals.update(_HELPERS)
    for html_only in ("urlize", "xmlattr"):  # their output grows with arguments no estimate bounds
        env.filters.pop(html_only, None)
    env.filters = {name: _guarded_filter(name, func) for name, func in env.filters.items()}
    env.filters.update({_LOOP: _loop_filter, _CONCAT: _concat_filter, _VALUE: _value_filter})
    tests = cast("dict[str, Callable[..., Any]]", env.tests)  # jinja types its tests as 'function'
    env.tests = {name: _guarded_test(func) for name, func in tests.items()}
    return env


_ENV: Final = _environment()
_BASE: Final = _ENV.from_string("")  # makes the one context all leaves of a call share

# A compiled subtree: the call's template context -> its value.
_Render = Callable[[jinja2.runtime.Context], Any]


class ArgumentTemplate:
    """Compiled once from the config's ``arguments`` (any JSON-like structure).

    String leaves that contain Jinja syntax are compiled in a sandbox; everything else is kept as a
    constant. A string that is exactly one expression, ``"{{ randint(0, 9) }}"``, renders to the
    expression's native value (int, list, ...); a string mixing text and expressions renders to str.
    Rendered results share their constant parts between calls: callers must not mutate them.

    Speed: one jinja context per call, shared by every leaf (a context costs more than rendering a
    leaf), with the variables passed as-is rather than merged into a copy of the globals.
    """

    __slots__ = ("_constant", "_render", "where")

    def __init__(self, arguments: Mapping[str, Any], where: str) -> None:
        self.where = where
        compiled = _compile(dict(arguments), where)
        self._render: _Render | None = compiled.render if isinstance(compiled, _Dynamic) else None
        self._constant: dict[str, Any] = {} if isinstance(compiled, _Dynamic) else compiled

    @property
    def is_constant(self) -> bool:
        """True when no leaf is a template: ``render`` then returns one shared, pre-built dict."""
        return self._render is None

    def render(self, ctx: CallContext) -> dict[str, Any]:
        if self._render is None:
            return self._constant
        variables = {
            **_HELPERS,
            "vu": ctx.vu,
            "iteration": ctx.iteration,
            "scenario": ctx.scenario,
            "row": ctx.row,
            _RNG: ctx.rng,
            _GUARD: _Guard(),
        }
        result: dict[str, Any] = self._render(_BASE.new_context(variables, shared=True))
        return result


class _Dynamic:
    """A compiled subtree that needs rendering (a plain constant never does)."""

    __slots__ = ("render",)

    def __init__(self, render: _Render) -> None:
        self.render = render


def _compile(value: Any, where: str) -> Any:
    """The value itself when it holds no template, else a ``_Dynamic`` that renders it."""
    if isinstance(value, str):
        return _compile_string(value, where) if any(mark in value for mark in _JINJA_SYNTAX) else value
    if isinstance(value, Mapping):
        items = [(key, _compile(child, _child_where(where, key))) for key, child in value.items()]
        if not any(isinstance(child, _Dynamic) for _, child in items):
            return dict(items)
        return _Dynamic(_dict_renderer(items))
    if isinstance(value, list | tuple):
        children = [_compile(child, f"{where}[{index}]") for index, child in enumerate(value)]
        if not any(isinstance(child, _Dynamic) for child in children):
            return children
        return _Dynamic(_list_renderer(children))
    problem = _not_json(value)
    if problem is not None:  # YAML has numbers and tags (!!binary) that JSON-RPC cannot carry
        raise UsageError(where, f"cannot be sent as JSON: {problem}")
    return value


def _dict_renderer(items: list[tuple[Any, Any]]) -> _Render:
    parts = tuple(
        (key, child.render, True) if isinstance(child, _Dynamic) else (key, child, False) for key, child in items
    )

    def render(context: jinja2.runtime.Context) -> dict[Any, Any]:
        return {key: part(context) if dynamic else part for key, part, dynamic in parts}

    return render


def _list_renderer(children: list[Any]) -> _Render:
    parts = tuple((child.render, True) if isinstance(child, _Dynamic) else (child, False) for child in children)

    def render(context: jinja2.runtime.Context) -> list[Any]:
        return [part(context) if dynamic else part for part, dynamic in parts]

    return render


def _child_where(where: str, key: Any) -> str:
    text = str(key)
    return f"{where}.{text}" if text.isidentifier() else f"{where}[{text!r}]"


def _compile_string(source: str, where: str) -> _Dynamic:
    """A leaf: a native value when it is exactly ``{{ expression }}``, else text."""
    try:
        with warnings.catch_warnings():  # Python warns on stderr about the code for '10[1:]': ours to report
            warnings.simplefilter("ignore", SyntaxWarning)
            return _compile_tree(source, where)
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError(where, f"template syntax error: {exc.message} in {_short(source)}") from None
    except RecursionError:
        raise UsageError(where, f"template syntax error: nested too deeply in {_short(source)}") from None
    except ValueError:  # a number literal with more digits than Python converts
        raise UsageError(where, f"template syntax error: a number with too many digits in {_short(source)}") from None
    except jinja2.TemplateError as exc:  # a constant part evaluated while compiling: ``'a'.nope or 1``
        raise UsageError(where, f"{_error_text(exc)} in {_short(source)}") from None


def _compile_tree(source: str, where: str) -> _Dynamic:
    tree = _ENV.parse(source)
    if next(iter(tree.find_all(_NO_LOADER_NODES)), None) is not None:
        raise UsageError(where, "extends, include, import and block are not available in arguments")
    tree = _Bound().visit(tree)
    body = tree.body
    if len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1:
        expression = body[0].nodes[0]
        if not isinstance(expression, nodes.TemplateData):
            # What compile_expression builds, run in the call's shared context instead of a new one.
            assign = nodes.Assign(nodes.Name(_RESULT, "store"), expression, lineno=1)
            return _Dynamic(_native_renderer(_ENV.from_string(nodes.Template([assign], lineno=1)), where))
    return _Dynamic(_text_renderer(_ENV.from_string(tree), where))


def _native_renderer(template: jinja2.Template, where: str) -> _Render:
    run = template.root_render_func

    def render(context: jinja2.runtime.Context) -> Any:
        try:
            for _ in run(context):
                pass
        except Exception as exc:
            raise _render_error(exc, where) from None
        value = context.vars.pop(_RESULT, None)
        context.exported_vars.discard(_RESULT)
        if isinstance(value, jinja2.Undefined):
            try:
                str(value)  # StrictUndefined says what is missing (or unsafe) when used
            except Exception as exc:
                raise _render_error(exc, where) from None
            raise TemplateError(f"{where}: undefined value")
        problem = _not_json(value)
        if problem is not None:
            raise TemplateError(f"{where}: renders to {problem}, not a JSON value")
        return value

    return render


def _not_json(value: Any) -> str | None:
    """What in ``value`` the wire's JSON encoder would refuse, or None when it takes all of it."""
    if type(value) in (str, float, bool, type(None)) or (type(value) is int and -(2**63) <= value < 2**64):
        return None
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, str | bool | float):
            continue
        if isinstance(item, int):
            if not -(2**63) <= item < 2**64:
                return "a number outside the 64-bit range"
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return "a mapping with a key that is not a string"
            stack.extend(item.values())
        else:
            return f"a {type(item).__name__}"
    return None


def _text_renderer(template: jinja2.Template, where: str) -> _Render:
    run = template.root_render_func

    def render(context: jinja2.runtime.Context) -> str:
        try:
            return "".join(run(context))
        except Exception as exc:
            raise _render_error(exc, where) from None

    return render


def _render_error(exc: Exception, where: str) -> TemplateError:
    return TemplateError(f"{where}: {_error_text(exc)}")


def _error_text(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        text = exc.message or "undefined value"
    elif isinstance(exc, SecurityError):
        text = f"not allowed in a template: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else f"{text[:40]!r}... ({len(text)} characters)"


# --- datasets ------------------------------------------------------------------------------------

MAX_DATASET_BYTES = 256 * 1024 * 1024
_FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def load_dataset(path: Path, fmt: str = "auto", where: str = "datasets.x") -> list[dict[str, Any]]:
    """Rows from a JSON array of objects, JSONL (an object a line) or CSV with a header row.

    Every problem is a ``UsageError`` "where: FILE[:LINE]: ..."; CSV values stay strings.
    """
    source = str(path)
    kind = fmt if fmt != "auto" else _FORMATS.get(path.suffix.lower())
    if kind not in ("json", "jsonl", "csv"):
        if fmt != "auto":
            raise UsageError(where, f"format must be auto, json, jsonl or csv, got {fmt!r}")
        raise UsageError(where, f"{source}: cannot tell the format from the name; set format: json, jsonl or csv")
    text = _read_dataset(path, source, where)
    if kind == "json":
        rows = _json_rows(text, source, where)
    elif kind == "jsonl":
        rows = _jsonl_rows(text, source, where)
    else:
        rows = _csv_rows(text, source, where)
    if not rows:
        raise UsageError(where, f"{source}: has no rows")
    return rows


def _read_dataset(path: Path, source: str, where: str) -> str:
    try:
        if path.is_dir():
            raise UsageError(where, f"{source}: is a directory, not a data file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_DATASET_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(where, f"{source}: no such file") from None
    except OSError as exc:
        raise UsageError(where, f"{source}: cannot read it ({exc.strerror or exc})") from None
    except ValueError:  # a NUL in the name
        raise UsageError(where, f"{source}: not a valid file name") from None
    if len(raw) > MAX_DATASET_BYTES:
        raise UsageError(where, f"{source}: is larger than 256 MiB")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UsageError(where, f"{source}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None


def _json_rows(text: str, source: str, where: str) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(where, f"{source}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise UsageError(where, f"{source}: must be a JSON array of objects, got {kind(data)}")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise UsageError(where, f"{source}: item {index + 1} is {kind(item)}, not an object")
    return data


def _jsonl_rows(text: str, source: str, where: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit in a string
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise UsageError(where, f"{source}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise UsageError(where, f"{source}:{number}: each line must be a JSON object, got {kind(item)}")
        rows.append(item)
    return rows


def _csv_rows(text: str, source: str, where: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(name.strip() for name in header):
            raise UsageError(where, f"{source}:1: the first line must be a header row naming the columns")
        if not all(name.strip() for name in header):
            raise UsageError(where, f"{source}:1: the header has an empty column name")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise UsageError(where, f"{source}:1: the header names {duplicates[0]!r} twice")
        rows: list[dict[str, Any]] = []
        for record in reader:
            if not record:
                continue
            if len(record) != len(header):
                raise UsageError(
                    where,
                    f"{source}:{reader.line_num}: has {len(record)} fields, the header has {len(header)}",
                )
            rows.append(dict(zip(header, record, strict=True)))
    except csv.Error as exc:
        raise UsageError(where, f"{source}:{reader.line_num}: not valid CSV ({exc})") from None
    return rows


class RowPicker:
    """Which dataset row a call gets.

    ``vu``: row ``(iteration * stride + vu - 1) % len`` with stride = the run's max VUs, so no
    two VUs share a row until the data wraps; ``sequential``: a shared counter, each call the next
    row (worker ``k`` of ``n`` processes counts k, k + n, k + 2n, ...); ``random``: ``rng.choice``.
    """

    __slots__ = ("_counter", "_order", "_rows", "_stride")

    def __init__(
        self, rows: Sequence[Mapping[str, Any]], order: str, stride: int, *, worker: tuple[int, int] = (0, 1)
    ) -> None:
        if not rows:
            raise ValueError("a RowPicker needs at least one row")
        if order not in ("vu", "sequential", "random"):
            raise ValueError(f"unknown row order {order!r}")
        self._rows = rows
        self._order = order
        self._stride = max(1, stride)
        self._counter: Iterator[int] = itertools.count(worker[0], worker[1])

    def pick(self, vu: int, iteration: int, rng: random.Random) -> Mapping[str, Any]:
        if self._order == "vu":
            return self._rows[(iteration * self._stride + vu - 1) % len(self._rows)]
        if self._order == "sequential":
            return self._rows[next(self._counter) % len(self._rows)]
        return rng.choice(self._rows)

    @property
    def first(self) -> Mapping[str, Any]:
        """A row to try a template with, without taking one from the sequence."""
        return self._rows[0]


# --- arguments: auto -----------------------------------------------------------------------------

_MAX_DEPTH = 24
_MAX_VALUES = 5_000  # a schema whose refs or minItems multiply cannot make us build millions
_MAX_ITEMS = 64
_MAX_LENGTH = 4096
_FORMAT_EXAMPLES: Final = {
    "uuid": "00000000-0000-4000-8000-000000000000",
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "test@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}


def synthesize_arguments(input_schema: Mapping[str, Any]) -> dict[str, Any]:
    """A valid argument object for ``arguments: auto``, built from a tool's ``inputSchema``.

    Required properties only, each the plainest valid value. Never raises: an odd schema gives
    ``None`` for the part it cannot understand, and a non-object schema gives ``{}``.
    """
    value = _Synthesizer(input_schema).value(input_schema, 0, frozenset())
    return value if isinstance(value, dict) else {}


class _Synthesizer:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.budget = _MAX_VALUES

    def value(self, schema: Any, depth: int, refs: frozenset[str]) -> Any:
        self.budget -= 1
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH or self.budget < 0:
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in refs:
                return None  # a cycle: stop here rather than recurse forever
            target = self._resolve(ref)
            if not isinstance(target, Mapping):
                return None
            siblings = {key: item for key, item in schema.items() if key != "$ref"}
            return self.value({**target, **siblings}, depth + 1, refs | {ref})
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        if "default" in schema:
            return schema["default"]
        for key in ("oneOf", "anyOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.value(_first_option(options), depth + 1, refs)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self.value(self._merge(schema, all_of, refs), depth + 1, refs)
        kind = _schema_type(schema)
        if kind == "string":
            return _string(schema)
        if kind == "integer":
            return _integer(schema)
        if kind == "number":
            return _number(schema)
        if kind == "boolean":
            return True
        if kind == "array":
            return self._array(schema, depth, refs)
        if kind == "object":
            return self._object(schema, depth, refs)
        return None

    def _resolve(self, ref: str) -> Any:
        """``#/$defs/Name``, ``#/definitions/Name`` or any local JSON pointer; else None."""
        if ref != "#" and not ref.startswith("#/"):
            return None
        node: Any = self.root
        for raw in ref[2:].split("/") if ref != "#" else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def _merge(self, schema: Mapping[str, Any], parts: list[Any], refs: frozenset[str]) -> dict[str, Any]:
        """``allOf`` as one schema: later keywords win, properties and required accumulate."""
        merged: dict[str, Any] = {key: item for key, item in schema.items() if key != "allOf"}
        properties: dict[str, Any] = dict(_mapping(merged.get("properties")))
        required: list[Any] = list(_sequence(merged.get("required")))
        for option in parts:
            part = option
            if isinstance(option, Mapping) and isinstance(option.get("$ref"), str) and option["$ref"] not in refs:
                part = self._resolve(option["$ref"])
            if not isinstance(part, Mapping):
                continue
            for key, item in part.items():
                if key == "properties":
                    properties.update(_mapping(item))
                elif key == "required":
                    required.extend(_sequence(item))
                elif key not in ("allOf", "$ref"):
                    merged[key] = item
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    def _array(self, schema: Mapping[str, Any], depth: int, refs: frozenset[str]) -> list[Any]:
        count = min(_non_negative_int(schema.get("minItems"), 0), _MAX_ITEMS)
        prefix = _sequence(schema.get("prefixItems"))
        items = schema.get("items")
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems")
        values = []
        for index in range(count):
            item_schema = prefix[index] if index < len(prefix) else items
            values.append(self.value(item_schema, depth + 1, refs))
        if schema.get("uniqueItems") is True:
            values = _distinct(values)
        return values

    def _object(self, schema: Mapping[str, Any], depth: int, refs: frozenset[str]) -> dict[str, Any]:
        properties = _mapping(schema.get("properties"))
        extra = schema.get("additionalProperties")
        result: dict[str, Any] = {}
        for name in _sequence(schema.get("required")):
            if not isinstance(name, str) or name in result:
                continue
            result[name] = self.value(properties.get(name, extra), depth + 1, refs)
        return result


def _first_option(options: list[Any]) -> Any:
    """The first option that is not just ``null`` (``Optional[int]`` should still send an int)."""
    for option in options:
        if not (isinstance(option, Mapping) and option.get("type") == "null"):
            return option
    return options[0]


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        names = [name for name in kind if isinstance(name, str)]
        kind = next((name for name in names if name != "null"), names[0] if names else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _string(schema: Mapping[str, Any]) -> str:
    text: str | None = None
    examples = schema.get("examples")
    if isinstance(examples, list) and examples and isinstance(examples[0], str):
        text = examples[0]
    elif isinstance(schema.get("example"), str):
        text = schema["example"]
    if text is None:
        fmt = schema.get("format")
        text = _FORMAT_EXAMPLES.get(fmt, "test") if isinstance(fmt, str) else "test"
    low = min(_non_negative_int(schema.get("minLength"), 0), _MAX_LENGTH)
    high = _non_negative_int(schema.get("maxLength"), -1)
    if len(text) < low:
        text += "x" * (low - len(text))
    if 0 <= high < len(text):
        text = text[:high]
    return text


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(low, low is exclusive, high, high is exclusive), accepting both draft-4 and later forms."""
    low, high = _finite(schema.get("minimum")), _finite(schema.get("maximum"))
    low_open = high_open = False
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if exclusive_low is True:
        low_open = low is not None
    elif _finite(exclusive_low) is not None:
        low, low_open = _finite(exclusive_low), True
    if exclusive_high is True:
        high_open = high is not None
    elif _finite(exclusive_high) is not None:
        high, high_open = _finite(exclusive_high), True
    return low, low_open, high, high_open


def _integer(schema: Mapping[str, Any]) -> int:
    low, low_open, high, high_open = _bounds(schema)
    lo = None if low is None else (math.floor(low) + 1 if low_open else math.ceil(low))
    hi = None if high is None else (math.ceil(high) - 1 if high_open else math.floor(high))
    if lo is not None and hi is not None:
        return (lo + hi) // 2 if lo <= hi else lo
    if lo is not None:
        return max(lo, 1)
    if hi is not None:
        return min(hi, 1)
    return 1


def _number(schema: Mapping[str, Any]) -> float:
    low, low_open, high, high_open = _bounds(schema)
    if low is not None and high is not None:
        return low / 2 + high / 2  # not (low + high) / 2: that overflows near the float limit
    if low is not None:
        return max(low + 1, 1) if low_open else max(low, 1)
    if high is not None:
        return min(high - 1, 1) if high_open else min(high, 1)
    return 1


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and abs(value) > 2**53:
        return float(value)
    return value


def _non_negative_int(value: Any, fallback: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return fallback
    if isinstance(value, float) and not math.isfinite(value):
        return fallback
    return max(0, int(min(value, 2**31)))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _distinct(values: list[Any]) -> list[Any]:
    """Make repeated strings or numbers differ, for ``uniqueItems``; other values stay as they are."""
    out: list[Any] = []
    for index, value in enumerate(values):
        if index and isinstance(value, str):
            out.append(f"{value}{index}")
        elif index and isinstance(value, int | float) and not isinstance(value, bool):
            out.append(value + index)
        else:
            out.append(value)
    return out
