"""Multi-step flows: ``flow.steps`` and ``flows:`` compiled once per run, then run per iteration.

Each iteration runs one flow's steps in order on the VU's session (``flows:`` picks the flow by
weight, a bisect as the tool mix does). A step's values go to ``vars`` (the session's: a per-vu
session keeps them across iterations); its ``expect:`` and ``capture:`` judge the answer the
protocol found good, so a wrong answer fails as ``check_failed`` and a capture that finds nothing
as ``capture_error``, each counted with the request's own step. A step with captures that fails,
whatever the class, takes the values later steps need with it: the rest of the iteration's steps
are skipped, not sent.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from mcpgate.config.base import ThinkTime
from mcpgate.config.models import Config
from mcpgate.config.steps import StepConfig
from mcpgate.metrics.recorder import Recorder
from mcpgate.protocol.jsonrpc import JSONObject
from mcpgate.protocol.outcome import OK, Kind, Outcome
from mcpgate.protocol.records import CallOptions
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.session_exchange import Answer
from mcpgate.workload.capture import Captures, compile_captures
from mcpgate.workload.datasets import RowPicker
from mcpgate.workload.discovery import LIST_METHODS, list_all, shaped
from mcpgate.workload.expect import Expect
from mcpgate.workload.templates import ArgumentTemplate, CallContext

_FIXED = {"prompt": "prompts/get", "complete": "completion/complete", "log_level": "logging/setLevel", "ping": "ping"}
_URI_METHODS = {"read": "resources/read", "subscribe": "resources/subscribe", "unsubscribe": "resources/unsubscribe"}


@dataclass(frozen=True, slots=True)
class Action:
    """One step's request, compiled: what to send, how to judge its answer, what to keep."""

    where: str  # flow.steps[2], flows[0].steps[1].one_of[0]
    method: str
    label: str  # the step's name: its check's name
    tool: str | None
    params: ArgumentTemplate  # a tool step's arguments; any other step's params
    name: str | None  # the name tag (a prompt, a method step's name:); uri steps tag their uri
    list_kind: str | None
    captures: Captures | None
    expect: Expect | None
    options: CallOptions
    repeat: int
    uses: frozenset[str]  # the vars its templates read
    rows: RowPicker | None = None

    def context(self, base: CallContext) -> CallContext:
        if self.rows is None:
            return base
        return replace(base, row=self.rows.pick(base.vu, base.iteration, base.rng))


@dataclass(frozen=True, slots=True)
class Node:
    """A step as it runs: one action, or a weighted choice of one (``one_of``)."""

    actions: tuple[Action, ...]
    cumulative: tuple[float, ...]
    probability: float
    think: ThinkTime | None

    def pick(self, rng: random.Random) -> Action:
        if len(self.actions) == 1:
            return self.actions[0]
        return self.actions[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


@dataclass(frozen=True, slots=True)
class Program:
    """The run's flows of steps: one is picked per iteration by weight."""

    names: tuple[str, ...]
    flows: tuple[tuple[Node, ...], ...]
    cumulative: tuple[float, ...]

    def pick(self, rng: random.Random) -> tuple[Node, ...]:
        if len(self.flows) == 1:
            return self.flows[0]
        return self.flows[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]

    def actions(self) -> Iterator[Action]:
        for nodes in self.flows:
            for node in nodes:
                yield from node.actions

    @property
    def tools(self) -> set[str]:
        return {action.tool for action in self.actions() if action.tool is not None}


def flows_of(config: Config) -> list[tuple[str, float, str, list[StepConfig]]]:
    """(name, weight, where, steps) of every configured flow of steps; empty with none."""
    if config.flows:
        return [(f.name, f.weight, f"flows[{i}].steps", list(f.steps)) for i, f in enumerate(config.flows)]
    if config.flow.steps:
        return [("default", 1.0, "flow.steps", list(config.flow.steps))]
    return []


def weights(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(itertools.accumulate(values))


async def run_steps(
    nodes: Sequence[Node], session: McpSession, base: CallContext, values: dict[str, Any], rec: Recorder
) -> None:
    """One iteration's steps in order; ``values`` are the session's vars, updated as steps capture."""
    rng = base.rng
    for node in nodes:
        if node.probability < 1.0 and rng.random() >= node.probability:
            continue
        action = node.pick(rng)
        for _ in range(action.repeat):
            if not await _run(action, session, base, values, rec) and action.captures is not None:
                return
        if node.think is not None and node.think.max > 0:
            await asyncio.sleep(rng.uniform(node.think.min, node.think.max))


async def _run(action: Action, session: McpSession, base: CallContext, values: dict[str, Any], rec: Recorder) -> bool:
    """One request of a step; True when its answer was good (its checks and captures included)."""
    ctx = action.context(replace(base, vars=values))
    try:
        params = action.params.render(ctx)
    except ValueError as exc:  # a template that fails for this VU, row or capture
        rec.step_template_error(action.method, action.tool or action.name, str(exc))
        return False
    taken: dict[str, Any] = {}

    def judge(result: JSONObject) -> Outcome:
        if action.expect is not None:
            outcome = action.expect.check(result, ctx, params)
            if not outcome.ok:
                return outcome
        if action.captures is not None:
            found = action.captures.take(result, ctx, params)
            if isinstance(found, str):
                return Outcome(Kind.CAPTURE_ERROR, found)
            taken.update(found)
        return OK

    answer = await _send(action, session, params, judge)
    if action.expect is not None:
        rec.step_checked(action.label, answer.outcome.ok)
    if not answer.outcome.ok:
        return False
    values.update(taken)
    return True


async def _send(
    action: Action, session: McpSession, params: dict[str, Any], judge: Callable[[JSONObject], Outcome]
) -> Answer:
    if action.tool is not None:
        return await session.call_tool(action.tool, params, check=judge, options=action.options)
    if action.list_kind is not None:
        return await list_all(session, action.list_kind, judge)
    if action.method in _URI_METHODS.values():
        name = params.get("uri")
    elif action.method == "prompts/get":
        name = params.get("name")
    else:
        name = action.name
    return await session.request(
        action.method,
        params,
        name=name if isinstance(name, str) else None,
        judge=partial(shaped, action.method, judge),
        options=action.options,
    )


def method_of(step: StepConfig) -> str:
    action = step.action
    if action == "tool":
        return "tools/call"
    if action == "list":
        return LIST_METHODS[step.list_ or "tools"]
    if action in _URI_METHODS:
        return _URI_METHODS[action]
    fixed = {
        "prompt": "prompts/get",
        "complete": "completion/complete",
        "log_level": "logging/setLevel",
        "ping": "ping",
    }
    return fixed.get(action) or step.method or action


def params_of(step: StepConfig) -> Mapping[str, Any]:
    """What a step that is not a tools/call sends (templates still in it)."""
    action = step.action
    if action in _URI_METHODS:
        return {"uri": getattr(step, action)}
    if action == "prompt":
        arguments = step.arguments if isinstance(step.arguments, dict) else {}
        return {"name": step.prompt, "arguments": arguments} if arguments else {"name": step.prompt}
    if action == "complete" and step.complete is not None:
        c = step.complete
        ref = (
            {"type": "ref/prompt", "name": c.prompt}
            if c.prompt is not None
            else {"type": "ref/resource", "uri": c.resource}
        )
        return {"ref": ref, "argument": dict(c.argument)}
    if action == "log_level":
        return {"level": step.log_level}
    if action == "method":
        return dict(step.params or {})
    return {}


def label_of(step: StepConfig, method: str) -> str:
    if step.name is not None:
        return step.name
    what = {
        "tool": step.tool,
        "read": step.read,
        "subscribe": step.subscribe,
        "unsubscribe": step.unsubscribe,
        "prompt": step.prompt,
        "list": None,
        "method": None,
    }.get(step.action)
    # A templated target ("records://{{ vars.id }}") has braces no threshold key may hold: the method alone.
    return f"{method} {what} expect" if what and "{" not in what else f"{method} expect"


def options_of(step: StepConfig) -> CallOptions:
    return CallOptions(timeout=step.timeout, progress=step.progress, task=step.task, cancel_after=step.cancel_after)


def compile_action(step: StepConfig, where: str, arguments: Mapping[str, Any], rows: RowPicker | None) -> Action:
    """One step's request compiled (``arguments``: a tool step's, settled against its schema)."""
    method = method_of(step)
    params = arguments if step.action == "tool" else params_of(step)
    template_where = f"{where}.arguments" if step.action == "tool" else f"{where}.params"
    name = step.prompt or (step.complete.prompt or step.complete.resource if step.complete else None) or step.name
    return Action(
        where=where,
        method=method,
        label=label_of(step, method),
        tool=step.tool,
        params=ArgumentTemplate(params, template_where),
        name=name if step.action != "tool" else None,
        list_kind=step.list_,
        captures=compile_captures(step.capture, f"{where}.capture"),
        expect=Expect(step.expect, f"{where}.expect") if step.expect is not None else None,
        options=options_of(step),
        repeat=step.repeat,
        uses=frozenset(),
        rows=rows,
    )
