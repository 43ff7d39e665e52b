"""One real session before the load: if the server is down, refuses us, or is not MCP, say so and stop.

It also settles what every virtual user will reuse: the transport and protocol
version (negotiated once), and the tool mix checked against the server's own
tools/list, with each tool's arguments compiled and tried once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcpgate.app.nocalls import no_call_warning
from mcpgate.plan.build import Plan
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.negotiate import Connection, connect
from mcpgate.protocol.records import ServerIdentity, Step, Target, ToolInfo, first_failure, step_label
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.wire.pool import Pool
from mcpgate.support import exitcodes
from mcpgate.workload.flow import Resolution, ToolMix, resolve_tools, streams_of
from mcpgate.workload.program import resolve_program, unrenderable
from mcpgate.workload.steps import Program
from mcpgate.workload.templates import TemplateError


@dataclass
class Preflight:
    ok: bool
    exit_code: int
    reason: str
    chosen: str = ""
    target: Target | None = None
    identity: ServerIdentity | None = None
    tools: list[str] = field(default_factory=list)
    offered: dict[str, ToolInfo] = field(default_factory=dict)  # the server's tools, as listed
    steps: list[Step] = field(default_factory=list)
    mix: ToolMix | None = None
    program: Program | None = None  # the flows of steps, when the config has them
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # every report shows them; the run still passes


async def preflight(http: Pool, plan: Plan, *, rows: tuple[int, int] = (0, 1)) -> Preflight:
    """The preflight session; ``rows`` deals ``sequential`` dataset rows to this process (a shard's part)."""
    steps: list[Step] = []
    conn = await connect(http, plan.connect, ids=IdSource(), sink=steps.append)
    session = conn.session
    if session is None or conn.target is None:
        return _not_connected(conn, steps)
    # The GET stream as the load's sessions will hold it: a 405 is learned here, once, for all of them.
    session.set_streams(streams_of(plan.config.flow))
    await session.listen()
    listed = await session.list_tools()
    await session.close()
    session.abandon()
    result = Preflight(
        True,
        exitcodes.OK,
        "",
        conn.chosen,
        conn.target,
        session.identity,
        list(session.tools),
        dict(session.tools),
        steps,
    )
    if not listed.ok:
        return _failed(result, exitcodes.COULD_NOT_START, _why(steps, listed.describe()))
    return _judge_flow(result, plan, session, rows)


def _judge_flow(result: Preflight, plan: Plan, session: McpSession, rows: tuple[int, int]) -> Preflight:
    """The configured flow against what the server offers: the mix or the steps, what will be called."""
    config = plan.config
    flows = resolve_program(config, session.tools, plan.datasets, plan.max_vus, worker=rows)
    if flows.program is not None:  # a flow of steps: no tool mix of its own
        resolution = Resolution(ToolMix([]), [], [])
    else:
        resolution = resolve_tools(
            config.flow.tools, session.tools, plan.datasets, config.datasets, plan.max_vus, worker=rows
        )
    called = {c.name for c in resolution.mix.choices} | (flows.program.tools if flows.program else set())
    configured = bool(config.flow.tools) or flows.program is not None
    warning = no_call_warning(configured, len(called), session.tools)
    said = [] if warning is not None else resolution.notes  # the warning says what those notes would
    result.notes = [*session.warnings, *said, *_stream_notes(plan, session)]
    if warning is not None:
        result.warnings.append(warning)
        if config.flow.require_calls:
            return _failed(result, exitcodes.COULD_NOT_START, f"require-calls: {warning}")
    problems = [*resolution.problems, *flows.problems, *_uncalled(plan, called)]
    if problems:
        return _failed(result, exitcodes.COULD_NOT_START, "; ".join(problems))
    broken = _unrenderable(plan, resolution.mix)
    if broken is None and flows.program is not None:
        broken = unrenderable(flows.program, plan.scenarios[0].name if plan.scenarios else "")
    if broken is not None:
        return _failed(result, exitcodes.INVALID_INPUT, broken)
    result.mix, result.program = resolution.mix, flows.program
    return result


def _not_connected(conn: Connection, steps: list[Step]) -> Preflight:
    """No session to check: negotiation's own outcome, named by the step it came from."""
    labelled = next((s for s in steps if s.outcome is conn.outcome), None)
    detail = conn.outcome.describe()
    if labelled is not None:
        detail = f"{step_label(labelled)}: {detail}"
    return Preflight(False, exitcodes.COULD_NOT_START, f"preflight session failed: {detail}", conn.chosen, steps=steps)


def _failed(result: Preflight, code: int, reason: str) -> Preflight:
    """The preflight as far as it got, failed: what it learned of the server stays in the report."""
    result.ok, result.exit_code, result.reason = False, code, reason
    return result


def _uncalled(plan: Plan, called: set[str]) -> list[str]:
    """Thresholds on a tool this run never calls (and that do not allow no data): a config mistake, caught now."""
    problems: list[str] = []
    for threshold in plan.thresholds:
        tool = dict(threshold.key.tags).get("tool")
        if tool is not None and tool not in called and not threshold.allow_no_data:
            problems.append(f"thresholds: {threshold.key}: no tool {tool!r} is called in this run")
    return problems


def _unrenderable(plan: Plan, mix: ToolMix) -> str | None:
    """Every tool's arguments rendered once, so a template that cannot work fails now, not on every call."""
    first = plan.scenarios[0].name if plan.scenarios else ""
    for choice in mix.choices:
        try:
            choice.try_render(first)
        except TemplateError as exc:
            return str(exc)
    return None


def _stream_notes(plan: Plan, session: McpSession) -> list[str]:
    """What the load's sessions will hold, where it differs from what the config asked for."""
    if plan.config.flow.listen is not True:
        return []
    if session.modern:
        return ["flow.listen: true, but 2026-07-28 has no GET stream: none is held"]
    if session.target.quirks.get_stream is False:
        return ["flow.listen: true, but the server answered the GET stream with 405: none is held"]
    return []


def _why(steps: list[Step], fallback: str) -> str:
    step = first_failure(steps)
    detail = f"{step_label(step)}: {step.outcome.describe()}" if step is not None else fallback
    return f"preflight session failed: {detail}"
