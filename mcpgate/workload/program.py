"""A flow of steps checked and compiled: before the load, against the config and the server.

``check_program`` needs only the config: every template compiles, every dataset named exists,
and every ``vars.x`` a step reads is captured by a step before it on every path through the flow
(a step that may not run, or one branch of a ``one_of``, does not count). ``resolve_program``
adds what the server says: every tool named is in its tools/list, ``arguments: auto`` is built
from the tool's schema (read-only tools only, unless ``allow_writes``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jinja2
from jinja2 import nodes

from mcpgate.config.models import Config, DatasetConfig
from mcpgate.config.steps import StepConfig
from mcpgate.protocol.records import ToolInfo
from mcpgate.support.errors import UsageError
from mcpgate.workload.datasets import RowPicker
from mcpgate.workload.sandbox import ENV
from mcpgate.workload.steps import Action, Node, Program, compile_action, flows_of, params_of, weights
from mcpgate.workload.synthesize import synthesize_arguments
from mcpgate.workload.templates import CallContext, TemplateError

_GUARDED = {"get", "keys", "items", "values"}  # vars.get('x', default): a value that may not be captured yet


@dataclass(slots=True)
class ProgramResolution:
    program: Program | None
    problems: list[str] = field(default_factory=list)


def check_program(config: Config) -> None:
    """The flows' templates compile and their vars are captured before they are read (UsageError)."""
    for _, _, where, steps in flows_of(config):
        defined: set[str] = set()
        for index, step in enumerate(steps):
            here = f"{where}[{index}]"
            branches = step.one_of if step.one_of is not None else [step]
            for number, branch in enumerate(branches):
                at = f"{here}.one_of[{number}]" if step.one_of is not None else here
                _check_step(branch, at, defined, config.datasets)
            if step.probability >= 1.0:
                captured = [set(branch.capture) for branch in branches]
                defined |= set.intersection(*captured) if captured else set()


def _check_step(step: StepConfig, where: str, defined: set[str], datasets: Mapping[str, DatasetConfig]) -> None:
    if step.dataset is not None and step.dataset not in datasets:
        raise UsageError(f"{where}.dataset", f"no dataset {step.dataset!r} in datasets")
    arguments = step.arguments if isinstance(step.arguments, dict) else {}
    compile_action(step, where, arguments, None)  # templates compile, paths parse (UsageError)
    for name in sorted(_vars_read([arguments, params_of(step), step.capture, _expect_values(step)])):
        if name not in defined:
            raise UsageError(where, f"vars.{name} is read, but no step before it captures {name!r} on every path")


def _expect_values(step: StepConfig) -> list[Any]:
    expect = step.expect
    if expect is None:
        return []
    return [expect.text_contains, expect.text_equals, expect.text_matches, expect.json_]


def _vars_read(value: Any) -> set[str]:
    """The names of ``vars`` the templates in ``value`` read (``vars.x``, ``vars['x']``)."""
    found: set[str] = set()
    for source in _strings(value):
        if "{{" not in source and "{%" not in source:
            continue
        try:
            tree = ENV.parse(source)
        except jinja2.TemplateSyntaxError:
            continue  # compiling it says what is wrong
        for node in tree.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "vars" and node.attr not in _GUARDED:
                found.add(node.attr)
        for item in tree.find_all(nodes.Getitem):
            if isinstance(item.node, nodes.Name) and item.node.name == "vars" and isinstance(item.arg, nodes.Const):
                found.add(str(item.arg.value))
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for child in value.values():
            yield from _strings(child)
    elif isinstance(value, list | tuple):
        for child in value:
            yield from _strings(child)


def resolve_program(
    config: Config,
    offered: Mapping[str, ToolInfo],
    datasets: Mapping[str, list[dict[str, Any]]],
    stride: int,
    *,
    worker: tuple[int, int] = (0, 1),
) -> ProgramResolution:
    """The program against the server's tools; None when the config has no flow of steps."""
    flows = flows_of(config)
    if not flows:
        return ProgramResolution(None)
    check_program(config)
    problems: list[str] = []
    compiled: list[tuple[Node, ...]] = []
    for _, _, where, steps in flows:
        built: list[Node] = []
        for index, step in enumerate(steps):
            branches = step.one_of if step.one_of is not None else [step]
            actions: list[Action] = []
            for number, branch in enumerate(branches):
                at = f"{where}[{index}].one_of[{number}]" if step.one_of is not None else f"{where}[{index}]"
                rows = _rows(branch, config, datasets, stride, worker)
                action = _action(branch, at, offered, rows, problems)
                if action is not None:
                    arguments = branch.arguments if isinstance(branch.arguments, dict) else {}
                    actions.append(replace(action, uses=frozenset(_vars_read([arguments, params_of(branch)]))))
            if actions:
                cumulative = weights([b.weight for b in branches][: len(actions)])
                built.append(Node(tuple(actions), cumulative, step.probability, step.think_time))
        compiled.append(tuple(built))
    program = Program(tuple(f[0] for f in flows), tuple(compiled), weights([f[1] for f in flows]))
    return ProgramResolution(program, problems)


def _rows(
    step: StepConfig, config: Config, datasets: Mapping[str, list[dict[str, Any]]], stride: int, worker: tuple[int, int]
) -> RowPicker | None:
    if step.dataset is None:
        return None
    return RowPicker(datasets[step.dataset], config.datasets[step.dataset].order, stride, worker=worker)


def _action(
    step: StepConfig, where: str, offered: Mapping[str, ToolInfo], rows: RowPicker | None, problems: list[str]
) -> Action | None:
    if step.tool is None:
        return compile_action(step, where, {}, rows)
    info = offered.get(step.tool)
    if info is None:
        listed = ", ".join(sorted(offered)[:12]) or "none"
        problems.append(f"{where}: tool {step.tool!r} is not in the server's tools/list (it offers: {listed})")
        return None
    if step.arguments == "auto":
        if not info.read_only and not step.allow_writes:
            problems.append(
                f"{where}: arguments: auto is only for tools marked readOnlyHint; {step.tool!r} is not "
                "(set allow_writes: true to call it anyway)"
            )
            return None
        return compile_action(step, where, synthesize_arguments(info.input_schema), rows)
    return compile_action(step, where, step.arguments or {}, rows)


def unrenderable(program: Program, scenario: str) -> str | None:
    """Every step that reads no captured value rendered once, as VU 1's first iteration would."""
    for nodes_ in program.flows:
        for node in nodes_:
            for action in node.actions:
                if action.uses:
                    continue
                row = action.rows.first if action.rows is not None else None
                ctx = CallContext(1, 0, scenario, random.Random(0), row, vars={})
                try:
                    action.params.render(ctx)
                except TemplateError as exc:
                    return str(exc)
    return None
