"""The sandbox argument templates run in: the immutable Jinja sandbox, with every render bounded.

Each filter, test, operator, call, loop turn and literal that can grow a value goes through the
call's ``Guard`` (budget.py) before it builds anything; the globals are the few helpers the docs
promise, and randomness comes only from the VU's own RNG, so a seeded run repeats exactly.
"""

from __future__ import annotations

import random
import uuid as uuid_module
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from typing import Any, Final, cast

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

from mcpgate.workload.budget import (
    MAX_INT_BITS,
    Guard,
    filter_estimate,
    format_estimate,
    printf_estimate,
    refuse_above,
    size_of,
    str_method_estimate,
)

# The RNG travels in the render context under a name no template can spell, so helpers reach it
# and templates cannot (``{{ rng.seed(0) }}`` would otherwise break every other call's randomness).
RNG_KEY: Final = "mcpgate:rng"
GUARD_KEY: Final = "mcpgate:guard"  # like RNG_KEY: a name no template can spell


@jinja2.pass_context
def _randint(context: jinja2.runtime.Context, a: int, b: int) -> int:
    rng: random.Random = context[RNG_KEY]
    return rng.randint(a, b)


@jinja2.pass_context
def _choice(context: jinja2.runtime.Context, seq: Sequence[Any]) -> Any:
    rng: random.Random = context[RNG_KEY]
    if not isinstance(seq, Sequence):
        seq = list(seq)
    if not seq:
        raise ValueError("choice() got an empty sequence")
    return rng.choice(seq)


@jinja2.pass_context
def _uuid(context: jinja2.runtime.Context) -> str:
    rng: random.Random = context[RNG_KEY]
    return str(uuid_module.UUID(int=rng.getrandbits(128), version=4))


@jinja2.pass_context
def _random(context: jinja2.runtime.Context) -> float:
    rng: random.Random = context[RNG_KEY]
    return rng.random()


HELPERS: Final[Mapping[str, Any]] = {"randint": _randint, "choice": _choice, "uuid": _uuid, "random": _random}


def _guard(context: jinja2.runtime.Context) -> Guard:
    guard = context.get(GUARD_KEY)
    return guard if isinstance(guard, Guard) else Guard()


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
        refuse_above(filter_estimate(name, value, args, kwargs))
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
    refuse_above(sum(size_of(part) for part in parts))
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
                    refuse_above(size_of(seq) * times)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if left.bit_length() * right > MAX_INT_BITS:
                raise SecurityError(f"builds a number larger than {MAX_INT_BITS} bits")
        elif operator == "%" and isinstance(left, str):
            refuse_above(printf_estimate(left, right))
        return guard.value(super().call_binop(context, operator, left, right))

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        guard = _guard(__context)
        guard.step()
        method = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            name = getattr(method, "__name__", "")
            if name in ("format", "format_map"):
                refuse_above(format_estimate(owner, args, kwargs))
            else:
                refuse_above(str_method_estimate(name, owner, args, kwargs))
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


def bound(tree: nodes.Template) -> nodes.Template:
    """``tree`` with its loops, ``~`` and non-constant literals routed through the guard filters."""
    bounded: nodes.Template = _Bound().visit(tree)
    return bounded


def _filter(node: nodes.Node, name: str, args: list[nodes.Expr] | None = None) -> nodes.Filter:
    wrapped = nodes.Filter(node, name, args or [], [], None, None, lineno=node.lineno)
    wrapped.set_environment(ENV)
    return wrapped


def _environment() -> ImmutableSandboxedEnvironment:
    """Immutable sandbox: no attribute tricks, and no ``row.update(...)`` changing shared data."""
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, finalize=_finalize)
    env.globals.clear()  # no range, lipsum, namespace...: only what the docs promise
    env.globals.update(HELPERS)
    for html_only in ("urlize", "xmlattr"):  # their output grows with arguments no estimate bounds
        env.filters.pop(html_only, None)
    env.filters = {name: _guarded_filter(name, func) for name, func in env.filters.items()}
    env.filters.update({_LOOP: _loop_filter, _CONCAT: _concat_filter, _VALUE: _value_filter})
    tests = cast("dict[str, Callable[..., Any]]", env.tests)  # jinja types its tests as 'function'
    env.tests = {name: _guarded_test(func) for name, func in tests.items()}
    return env


ENV: Final = _environment()
