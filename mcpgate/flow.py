"""What one virtual user does in one iteration: the MCP flow a real client runs.

open (initialize -> notifications/initialized, or server/discover) ->
tools/list -> ``calls_per_session`` weighted tools/call -> end the session.
The tool mix and each tool's arguments are settled before the load starts
(``resolve_tools``), so an iteration only picks, renders and sends.
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcpgate.config.models import DatasetConfig, ToolConfig
from mcpgate.inputs import ArgumentTemplate, CallContext, RowPicker, synthesize_arguments
from mcpgate.protocol import wire
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.session import McpSession, Target, ToolInfo
from mcpgate.recorder import Recorder


@dataclass(slots=True)
class VirtualUser:
    number: int  # 1-based and unique across the run, as k6's __VU
    rng: random.Random
    ids: IdSource = field(default_factory=IdSource)
    iteration: int = 0
    session: McpSession | None = None  # one client per VU, reused by every iteration


@dataclass(frozen=True, slots=True)
class ToolChoice:
    name: str
    weight: float
    template: ArgumentTemplate
    rows: RowPicker | None = None

    def arguments(self, vu: VirtualUser, scenario: str) -> dict[str, Any]:
        row = self.rows.pick(vu.number, vu.iteration, vu.rng) if self.rows is not None else None
        return self.template.render(CallContext(vu.number, vu.iteration, scenario, vu.rng, row))

    def try_render(self, scenario: str) -> None:
        """Render once as VU 1's first call would, taking nothing from a dataset's sequence."""
        row = self.rows.first if self.rows is not None else None
        self.template.render(CallContext(1, 0, scenario, random.Random(0), row))


class ToolMix:
    """A weighted choice among tools: one random number and a bisect per pick."""

    def __init__(self, choices: Sequence[ToolChoice]) -> None:
        self.choices = tuple(choices)
        self._cumulative = list(itertools.accumulate(c.weight for c in self.choices))
        self._total = self._cumulative[-1] if self._cumulative else 0.0

    def pick(self, rng: random.Random) -> ToolChoice | None:
        if not self.choices:
            return None
        if len(self.choices) == 1:
            return self.choices[0]
        return self.choices[bisect.bisect_right(self._cumulative, rng.random() * self._total)]


@dataclass(slots=True)
class Resolution:
    mix: ToolMix
    problems: list[str]  # configured tools the server does not offer, or may not be auto-filled
    notes: list[str]


def resolve_tools(
    configured: Sequence[ToolConfig],
    offered: Mapping[str, ToolInfo],
    datasets: Mapping[str, list[dict[str, Any]]],
    dataset_configs: Mapping[str, DatasetConfig],
    stride: int,
    *,
    worker: tuple[int, int] = (0, 1),
) -> Resolution:
    """Check the configured mix against the server's tools/list and compile every tool's arguments."""
    problems: list[str] = []
    notes: list[str] = []
    choices: list[ToolChoice] = []
    if not configured:
        readable = [t for t in offered.values() if t.read_only]
        skipped = [t.name for t in offered.values() if not t.read_only]
        if skipped:
            notes.append(f"not called (not marked readOnlyHint): {', '.join(skipped)}")
        if not readable:
            notes.append("no tool is marked readOnlyHint: iterations open a session and list tools only")
        for tool in readable:
            args = synthesize_arguments(tool.input_schema)
            choices.append(ToolChoice(tool.name, 1.0, ArgumentTemplate(args, f"tools/list {tool.name}")))
        return Resolution(ToolMix(choices), problems, notes)
    for index, cfg in enumerate(configured):
        where = f"flow.tools[{index}]"
        info = offered.get(cfg.name)
        if info is None:
            listed = ", ".join(sorted(offered)[:12]) or "none"
            problems.append(f"{where}: tool {cfg.name!r} is not in the server's tools/list (it offers: {listed})")
            continue
        if cfg.arguments == "auto":
            if not info.read_only and not cfg.allow_writes:
                problems.append(
                    f"{where}: arguments: auto is only for tools marked readOnlyHint; {cfg.name!r} is not "
                    "(set allow_writes: true to call it anyway)"
                )
                continue
            template = ArgumentTemplate(synthesize_arguments(info.input_schema), f"{where}.arguments")
        else:
            template = ArgumentTemplate(cfg.arguments, f"{where}.arguments")
        rows = None
        if cfg.dataset is not None:
            rows = RowPicker(datasets[cfg.dataset], dataset_configs[cfg.dataset].order, stride, worker=worker)
        choices.append(ToolChoice(cfg.name, cfg.weight, template, rows))
    return Resolution(ToolMix(choices), problems, notes)


class Flow:
    def __init__(
        self,
        http: wire.Pool,
        target: Target,
        mix: ToolMix,
        *,
        tools_list: bool,
        calls_per_session: int,
    ) -> None:
        self._http = http
        self._target = target
        self._mix = mix
        self._tools_list = tools_list
        self._calls = calls_per_session

    async def iteration(self, vu: VirtualUser, rec: Recorder) -> None:
        t0 = time.perf_counter()
        session = vu.session
        if session is None:
            session = vu.session = McpSession(self._http, self._target, ids=vu.ids, sink=rec.step)
        try:
            opened = await session.open()
            rec.opened(opened.ok)
            if opened.ok:
                if self._tools_list:
                    await session.list_tools()
                for _ in range(self._calls):
                    choice = self._mix.pick(vu.rng)
                    if choice is None:
                        break
                    try:
                        arguments = choice.arguments(vu, rec.scenario)
                    except ValueError as exc:  # a template that fails for this VU or row
                        rec.template_error(choice.name, str(exc))
                        continue
                    await session.call_tool(choice.name, arguments)
            await session.close()
        finally:
            session.abandon()
        rec.session(time.perf_counter() - t0, session.reinits)
        vu.iteration += 1
