"""``mcpgate probe``: one real session, every step timed and judged.

connect (negotiating when asked) -> tools/list -> the optional tools/call ->
session end. The report is a plain value; rendering it is a pure function, so
the console and ``--json`` say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcpgate.protocol.http import make_http
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.negotiate import ConnectSpec, connect
from mcpgate.protocol.outcome import Outcome
from mcpgate.protocol.records import Step, first_failure, step_label
from mcpgate.results.server import capability_line, shorten
from mcpgate.support.redact import Redactor


@dataclass(slots=True)
class ProbeReport:
    url: str
    ok: bool
    outcome: Outcome
    chosen: str
    transport: str | None = None
    protocol_version: str | None = None
    server_info: dict[str, Any] | None = None
    capabilities: dict[str, Any] | None = None
    instructions: str | None = None
    tools: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    server_messages: dict[str, int] = field(default_factory=dict)
    reinits: int = 0
    redirects: int = 0  # same-origin 307/308 hops followed

    @property
    def failed_step(self) -> Step | None:
        return first_failure(self.steps)


async def run_probe(
    spec: ConnectSpec, *, call: str | None = None, arguments: Mapping[str, Any] | None = None
) -> ProbeReport:
    steps: list[Step] = []
    async with make_http(spec.settings) as http:
        conn = await connect(http, spec, ids=IdSource(), sink=steps.append)
        report = ProbeReport(spec.url, False, conn.outcome, conn.chosen, steps=steps)
        session = conn.session
        if session is None:
            return report
        identity = session.identity
        if identity is not None:
            report.transport = identity.transport
            report.protocol_version = identity.protocol_version
            report.server_info = identity.server_info
            report.capabilities = identity.capabilities
            report.instructions = identity.instructions
        outcome = await session.list_tools()
        if outcome.ok:
            report.tools = list(session.tools)
            if call is not None:
                outcome = (await session.call_tool(call, arguments or {})).outcome
        closed = await session.close()
        if outcome.ok:
            outcome = closed
        report.outcome = outcome
        report.ok = outcome.ok and report.failed_step is None
        report.warnings = list(session.warnings)
        report.server_messages = dict(session.server_messages)
        report.reinits = session.reinits
        report.redirects = session.redirects
    return report


def step_dict(step: Step, redact: Redactor) -> dict[str, Any]:
    data: dict[str, Any] = {
        "method": step.method,
        "http_status": step.http_status,
        "duration_ms": round(step.duration * 1000, 3),
        "outcome": step.outcome.kind.value,
        "reason": redact(step.outcome.reason),
    }
    if step.tool is not None:
        data["tool"] = step.tool
    if step.outcome.code is not None:
        data["code"] = step.outcome.code
    if step.framing is not None:
        data["framing"] = step.framing
    if step.server_messages:
        data["server_messages"] = step.server_messages
    if step.note:
        data["note"] = redact(step.note)
    if step.fallback:
        data["fallback"] = True
    if step.retried:
        data["retried"] = True
    return data


def report_dict(report: ProbeReport, redact: Redactor) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "url": redact.url(report.url),
        "transport": report.transport,
        "protocol_version": report.protocol_version,
        "chosen": redact(report.chosen),
        "server_info": redact.json(report.server_info),
        "capabilities": redact.json(report.capabilities),
        "instructions": redact(report.instructions) if report.instructions is not None else None,
        "tools": [redact(t) for t in report.tools],
        "steps": [step_dict(s, redact) for s in report.steps],
        "warnings": [redact(w) for w in report.warnings],
        "server_messages": report.server_messages,
        "reinits": report.reinits,
        "redirects": report.redirects,
        "reason": None if report.ok else redact(failure_line(report)),
    }


def failure_line(report: ProbeReport) -> str:
    step = report.failed_step
    if step is not None and report.transport is not None:
        return f"{step_label(step)}: {step.outcome.describe()}"
    return report.outcome.describe()


def render_text(report: ProbeReport, redact: Redactor) -> str:
    lines = [f"mcpgate probe {redact.url(report.url)}"]
    if report.transport:
        lines.append(f"  transport  {redact(report.chosen)}")
        lines.append(f"  protocol   {report.protocol_version}")
    if report.server_info:
        name = report.server_info.get("name", "?")
        version = report.server_info.get("version", "")
        lines.append(redact(f"  server     {name} {version}".rstrip()))
    lines.extend(redact(line) for line in server_lines(report.capabilities, report.instructions))
    lines.append("")
    width = max((len(step_label(s)) for s in report.steps), default=10)
    for step in report.steps:
        mark = "·" if step.fallback else "↻" if step.retried else "✓" if step.outcome.ok else "✗"
        status = str(step.http_status) if step.http_status is not None else "-"
        framing = step.framing or ""
        detail = step.outcome.describe() if not step.outcome.ok else "ok"
        if step.fallback:
            detail = f"{detail} (tried; fell back)"
        if step.note:
            detail = f"{detail}; {step.note}"
        if step.server_messages:
            detail = f"{detail} [{step.server_messages} server message(s) first]"
        timing = f"{status:>3} {framing:<4} {step.duration * 1000:8.1f} ms"
        lines.append(redact(f"  {mark} {step_label(step):<{width}}  {timing}  {detail}"))
    if report.tools:
        lines.append("")
        lines.append(redact(f"  tools ({len(report.tools)}): {', '.join(report.tools)}"))
    if report.reinits:
        lines.append(f"  sessions re-initialized after the server lost them: {report.reinits}")
    if report.redirects:
        lines.append(f"  redirects followed (307/308 on the same origin): {report.redirects}")
    for warning in report.warnings:
        lines.append(f"  warning: {redact(warning)}")
    lines.append("")
    total = sum(s.duration for s in report.steps) * 1000
    if report.ok:
        lines.append(f"ok: {len(report.steps)} steps in {total:.1f} ms")
    else:
        lines.append(f"FAILED: {redact(failure_line(report))}")
    return "\n".join(lines)


def server_lines(capabilities: dict[str, Any] | None, instructions: str | None) -> list[str]:
    """The server's capabilities on one line and its instructions shortened: never a wall of text."""
    lines = []
    if capabilities:
        lines.append(f"  offers     {capability_line(capabilities)}")
    if instructions and instructions.strip():
        lines.append(f"  instructs  {shorten(instructions)}")
    return lines
