"""Argument templates: a tool's ``arguments``, compiled once when the plan is built, rendered per call.

A template renders from a small ``CallContext`` in the bounded sandbox (sandbox.py); the sandbox
exposes the call's numbers and a few helpers, nothing of the process around it.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError

from mcpgate.config.explain import show
from mcpgate.support.errors import UsageError
from mcpgate.workload.budget import Guard
from mcpgate.workload.sandbox import ENV, GUARD_KEY, HELPERS, RNG_KEY, bound


@dataclass(frozen=True, slots=True)
class CallContext:
    """Everything a template may know about the call it renders."""

    vu: int  # 1-based VU number
    iteration: int  # 0-based iteration of that VU
    scenario: str
    rng: random.Random  # the VU's own RNG (for repeatable runs with a seed)
    row: Mapping[str, Any] | None = None  # the dataset row for this call, when the tool names a dataset
    vars: Mapping[str, Any] | None = None  # what a flow's steps captured so far in this session
    extra: Mapping[str, Any] | None = None  # more names for one use: a check's args, a capture's result


class TemplateError(ValueError):
    """A template failed while rendering one call: a one-line message naming where."""


_RESULT: Final = "result"  # where a single-expression leaf leaves its value in the context
_JINJA_SYNTAX: Final = ("{{", "{%", "{#")
_NO_LOADER_NODES: Final = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport, nodes.Block)

_BASE: Final = ENV.from_string("")  # makes the one context all leaves of a call share

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
            **HELPERS,
            "vu": ctx.vu,
            "iteration": ctx.iteration,
            "scenario": ctx.scenario,
            "row": ctx.row,
            RNG_KEY: ctx.rng,
            GUARD_KEY: Guard(),
        }
        if ctx.vars is not None:
            variables["vars"] = ctx.vars
        if ctx.extra is not None:
            variables.update(ctx.extra)
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
        raise UsageError(where, f"template syntax error: {exc.message} in {show(source)}") from None
    except RecursionError:
        raise UsageError(where, f"template syntax error: nested too deeply in {show(source)}") from None
    except ValueError:  # a number literal with more digits than Python converts
        raise UsageError(where, f"template syntax error: a number with too many digits in {show(source)}") from None
    except jinja2.TemplateError as exc:  # a constant part evaluated while compiling: ``'a'.nope or 1``
        raise UsageError(where, f"{_error_text(exc)} in {show(source)}") from None


def _compile_tree(source: str, where: str) -> _Dynamic:
    tree = ENV.parse(source)
    if next(iter(tree.find_all(_NO_LOADER_NODES)), None) is not None:
        raise UsageError(where, "extends, include, import and block are not available in arguments")
    tree = bound(tree)
    body = tree.body
    if len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1:
        expression = body[0].nodes[0]
        if not isinstance(expression, nodes.TemplateData):
            # What compile_expression builds, run in the call's shared context instead of a new one.
            assign = nodes.Assign(nodes.Name(_RESULT, "store"), expression, lineno=1)
            return _Dynamic(_native_renderer(ENV.from_string(nodes.Template([assign], lineno=1)), where))
    return _Dynamic(_text_renderer(ENV.from_string(tree), where))


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


def render_over(template: ArgumentTemplate, variables: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """``template`` rendered over names of the caller's own instead of a call's (a server request
    answered: ``request``), with the helpers and the same bounds."""
    if template._render is None:
        return template._constant
    context = {**HELPERS, **variables, RNG_KEY: rng, GUARD_KEY: Guard()}
    result: dict[str, Any] = template._render(_BASE.new_context(context, shared=True))
    return result
