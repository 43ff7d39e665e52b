"""What one virtual user does in one iteration: the MCP flow a real client runs.

Two shapes (``flow.session``):

    per-iteration (the seed's): each iteration opens a session (initialize ->
        notifications/initialized [-> GET stream], or server/discover) ->
        tools/list -> ``calls_per_session`` weighted tools/call -> ends it.
    per-vu (an agent's): the VU keeps one session across iterations and makes one
        tools/call per iteration (think time between them); the session ends once
        it has made ``calls_per_session`` calls or is ``session_lifetime`` old, and
        the next iteration opens a new one. A session with nothing to call holds
        (its stream open) for its lifetime.

Either way a VU that stops (ramp-down, the end, an interrupt) ends its open
session on the wire (``end``), bounded in time. The tool mix and each tool's
arguments are settled before the load starts (``resolve_tools``), so an
iteration only picks, renders and sends.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcpgate.config.flow import FlowConfig, ToolConfig
from mcpgate.config.models import DatasetConfig
from mcpgate.metrics.recorder import Recorder
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.records import Target, ToolInfo
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.transport import Streams
from mcpgate.protocol.wire.pool import Pool
from mcpgate.workload.datasets import RowPicker
from mcpgate.workload.discovery import discover, discovery_of
from mcpgate.workload.expect import Expect
from mcpgate.workload.steps import Program, run_steps
from mcpgate.workload.synthesize import synthesize_arguments
from mcpgate.workload.templates import ArgumentTemplate, CallContext


@dataclass(slots=True)
class VirtualUser:
    number: int  # 1-based and unique across the run, as k6's __VU
    rng: random.Random
    ids: IdSource = field(default_factory=IdSource)
    iteration: int = 0
    session: McpSession | None = None  # one client per VU, reused by every iteration
    opened_at: float | None = None  # perf_counter() when its open MCP session began; None: none is open
    calls: int = 0  # tools/call made in that session (with steps: the iterations it ran)
    vars: dict[str, Any] = field(default_factory=dict)  # what the session's steps captured


def streams_of(flow: FlowConfig) -> Streams:
    """``flow.listen`` and ``flow.stream_idle_timeout`` as a session takes them."""
    listen = None if flow.listen == "auto" else bool(flow.listen)
    return Streams(listen=listen, idle_timeout=flow.stream_idle_timeout)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    name: str
    weight: float
    template: ArgumentTemplate
    rows: RowPicker | None = None
    expect: Expect | None = None  # the tool's expect: checks, with their check's name
    check_name: str = ""

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
        expect = Expect(cfg.expect, f"{where}.expect") if cfg.expect is not None else None
        choices.append(ToolChoice(cfg.name, cfg.weight, template, rows, expect, f"tools/call {cfg.name} expect"))
    return Resolution(ToolMix(choices), problems, notes)


class Flow:
    def __init__(
        self, http: Pool, target: Target, mix: ToolMix, flow: FlowConfig, program: Program | None = None
    ) -> None:
        self._http = http
        self._target = target
        self._mix = mix
        self._discover, self._offered_only = discovery_of(flow)
        self._tools_only = self._discover == ("tools",)
        self._program = program
        if program is not None:  # the steps' own path: the tool mix's stays as it is
            self.iteration = self._steps_iteration  # type: ignore[method-assign]
        self._calls = flow.calls  # per session; None: no limit
        self._per_vu = flow.session == "per-vu"
        self._lifetime = flow.session_lifetime
        self._streams = streams_of(flow)
        self.timeout = target.settings.timeout

    async def iteration(self, vu: VirtualUser, rec: Recorder) -> None:
        if self._per_vu:
            await self._turn(vu, rec)
        else:
            session = await self._open(vu, rec)
            if session is not None:
                for _ in range(self._calls or 0):
                    if not await self._call(session, vu, rec):
                        break
            await self._close(vu, rec)
        vu.iteration += 1

    async def end(self, vu: VirtualUser, rec: Recorder, within: float) -> None:
        """The VU stops: end its open session (streams dropped, then DELETE) within ``within`` seconds;
        with no time left, drop it without a word on the wire."""
        session = vu.session
        if vu.opened_at is None or session is None:
            return
        if within <= 0:
            session.abandon()
            rec.session(time.perf_counter() - vu.opened_at)
            vu.opened_at = None
            return
        await self._close(vu, rec, within)

    async def _turn(self, vu: VirtualUser, rec: Recorder) -> None:
        """One iteration of a per-VU session: open it if needed, then one call (or hold it out)."""
        if vu.opened_at is not None and self._expired(vu):
            await self._close(vu, rec)
        session = vu.session if vu.opened_at is not None else await self._open(vu, rec)
        if session is None:
            await self._close(vu, rec)
            return
        budget = self._calls
        if (budget is None or vu.calls < budget) and self._mix.choices:
            await self._call(session, vu, rec)
            if (budget is not None and vu.calls >= budget) or self._expired(vu):
                await self._close(vu, rec)
        elif self._lifetime is not None and vu.opened_at is not None:
            # Nothing to call: the session holds, its stream open, until its lifetime is over.
            await asyncio.sleep(max(0.0, vu.opened_at + self._lifetime - time.perf_counter()))
            await self._close(vu, rec)
        else:
            await self._close(vu, rec)

    def _expired(self, vu: VirtualUser) -> bool:
        lifetime = self._lifetime
        return lifetime is not None and vu.opened_at is not None and time.perf_counter() - vu.opened_at >= lifetime

    async def _open(self, vu: VirtualUser, rec: Recorder) -> McpSession | None:
        """A new MCP session for the VU (and tools/list); None when it could not be opened."""
        session = vu.session
        if session is None:
            session = vu.session = McpSession(
                self._http, self._target, ids=vu.ids, sink=rec.step, streams=self._streams, meter=rec
            )
            if self._target.auth is not None:  # OAuth: the VU's own tenant, when a dataset gives them
                session.auth = self._target.auth.for_vu(vu.number)
                rec.auth_used()
        vu.opened_at, vu.calls = time.perf_counter(), 0
        opened = await session.open()
        rec.opened(opened.ok)
        if not opened.ok:
            return None
        if vu.vars:
            vu.vars = {}  # a new session: what the last one captured is gone
        if self._tools_only:  # the seed's flow, as fast as it ever was
            await session.list_tools()
        elif self._discover:
            await discover(session, self._discover, self._offered_only)
        return session

    async def _call(self, session: McpSession, vu: VirtualUser, rec: Recorder) -> bool:
        """One weighted tools/call; False when there is no tool to call."""
        choice = self._mix.pick(vu.rng)
        if choice is None:
            return False
        vu.calls += 1
        try:
            arguments = choice.arguments(vu, rec.scenario)
        except ValueError as exc:  # a template that fails for this VU or row
            rec.template_error(choice.name, str(exc))
            return True
        if choice.expect is None:
            await session.call_tool(choice.name, arguments)
        else:
            await self._checked_call(session, choice, arguments, vu, rec)
        return True

    async def _checked_call(
        self, session: McpSession, choice: ToolChoice, arguments: dict[str, Any], vu: VirtualUser, rec: Recorder
    ) -> None:
        """A tool's call whose answer its ``expect:`` checks: a wrong one is check_failed."""
        expect = choice.expect
        assert expect is not None
        ctx = CallContext(vu.number, vu.iteration, rec.scenario, vu.rng, vars=vu.vars)
        answer = await session.call_tool(
            choice.name, arguments, check=lambda result: expect.check(result, ctx, arguments)
        )
        rec.step_checked(choice.check_name, answer.outcome.ok)

    async def _steps_iteration(self, vu: VirtualUser, rec: Recorder) -> None:
        """One iteration of a flow of steps: the picked flow's steps once, on the VU's session."""
        if not self._per_vu:
            session = await self._open(vu, rec)
            if session is not None:
                await self._run_steps(session, vu, rec)
            await self._close(vu, rec)
            vu.iteration += 1
            return
        if vu.opened_at is not None and self._expired(vu):
            await self._close(vu, rec)
        session = vu.session if vu.opened_at is not None else await self._open(vu, rec)
        if session is not None:
            await self._run_steps(session, vu, rec)
            vu.calls += 1
        budget = self._calls
        if session is None or (budget is not None and vu.calls >= budget) or self._expired(vu):
            await self._close(vu, rec)
        vu.iteration += 1

    async def _run_steps(self, session: McpSession, vu: VirtualUser, rec: Recorder) -> None:
        program = self._program
        if program is not None:
            base = CallContext(vu.number, vu.iteration, rec.scenario, vu.rng)
            await run_steps(program.pick(vu.rng), session, base, vu.vars, rec)

    async def _close(self, vu: VirtualUser, rec: Recorder, within: float | None = None) -> None:
        """End the VU's session on the wire and record how long it lived."""
        session, opened_at = vu.session, vu.opened_at
        if session is None or opened_at is None:
            return
        try:
            await session.close(within)
        finally:  # ended, even when cut short: it counts
            session.abandon()
            vu.opened_at = None
            rec.session(time.perf_counter() - opened_at)
