"""``mcpgate smoke``: a few real MCP sessions at a low rate, right after a deploy.

    cert    the https:// URL's certificate: days to expiry (gated by --min-cert-days)
    1       negotiate (as probe does) -> tools/list -> the optional read-only call -> end
    2..N    the negotiated target again, no negotiation: open -> tools/list -> call -> end

Session n starts at n * interval after the first (a pure schedule, as vegeta paces:
a slow session delays only itself, the next one starts on time or at once). Every
step is timed. The smoke is ok only when every planned session ran and was ok and
the certificate gate holds.

A smoke check runs against production, so it never calls a tool that may write:
``call="auto"`` picks the first tool marked ``readOnlyHint``, and a named tool must be
marked so too unless ``allow_writes`` says otherwise.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mcpgate.app.postdeploy import MARK_FAIL, MARK_OK, md_cell, ms
from mcpgate.app.postdeploy.tls import CertInfo, cert_dict, cert_info, cert_line, cert_problem, days
from mcpgate.app.probe import step_dict
from mcpgate.protocol.http import make_http
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.negotiate import ConnectSpec, connect
from mcpgate.protocol.outcome import Outcome
from mcpgate.protocol.records import Step, ToolInfo, first_failure, step_label
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.wire.pool import Pool
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor
from mcpgate.workload.synthesize import synthesize_arguments

AUTO: Final = "auto"
MAX_SESSIONS: Final = 100


@dataclass(slots=True)
class SmokeSession:
    number: int  # 1-based
    ok: bool
    started_s: float  # seconds after the first session started
    duration_s: float
    steps: list[Step] = field(default_factory=list)
    failure: str | None = None  # one line: the step that failed, or why no call was made
    tool: str | None = None  # the tool called in this session


@dataclass(slots=True)
class SmokeReport:
    url: str
    ok: bool = False
    planned: int = 0
    sessions: list[SmokeSession] = field(default_factory=list)
    chosen: str = ""  # what negotiation chose, and why
    transport: str | None = None
    protocol_version: str | None = None
    server_info: dict[str, Any] | None = None
    tools: list[str] = field(default_factory=list)
    call: str | None = None  # the tool called: the named one, or what "auto" picked
    cert: CertInfo | None = None
    min_cert_days: int | None = None
    reason: str | None = None  # the first failure, one line; None when ok
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class _Ask:
    """The call every session makes, as asked: a tool or ``auto`` (None: no call), its arguments, writes allowed."""

    call: str | None
    arguments: Mapping[str, Any] | None
    allow_writes: bool
    require_calls: bool = False  # call auto finding no read-only tool fails the smoke instead of a warning


class _Refused(Exception):
    """No call can be made as asked (a write tool, a missing tool): the smoke stops there."""


async def run_smoke(
    spec: ConnectSpec,
    *,
    sessions: int = 3,
    interval: float = 1.0,
    call: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    min_cert_days: int | None = None,
    allow_writes: bool = False,
    require_calls: bool = False,
) -> SmokeReport:
    """Run the smoke; every failure ends up in the report, bad arguments raise UsageError."""
    _check(spec, sessions=sessions, interval=interval, call=call, arguments=arguments, min_cert_days=min_cert_days)
    report = SmokeReport(spec.url, planned=sessions, min_cert_days=min_cert_days)
    loop = asyncio.get_running_loop()
    begun = loop.time()
    if spec.url.startswith("https://"):
        settings = spec.settings
        report.cert = await cert_info(
            spec.url, timeout=settings.connect_timeout, tls=settings.tls, proxies=settings.proxy
        )
    async with make_http(spec.settings) as http:
        await _sessions(http, spec, report, _Ask(call, arguments, allow_writes, require_calls), interval)
    report.elapsed_s = loop.time() - begun
    report.reason = _reason(report)
    report.ok = report.reason is None
    return report


async def _sessions(http: Pool, spec: ConnectSpec, report: SmokeReport, ask: _Ask, interval: float) -> None:
    """The planned sessions on their schedule: the first negotiates, the others reopen what it found."""
    loop = asyncio.get_running_loop()
    ids = IdSource()
    mcp: McpSession | None = None
    t0 = loop.time()
    for index in range(report.planned):
        delay = t0 + index * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        steps: list[Step] = []
        started = loop.time()
        record = SmokeSession(index + 1, False, started - t0, 0.0, steps)
        report.sessions.append(record)
        if mcp is None:
            conn = await connect(http, spec, ids=ids, sink=steps.append)
            report.chosen = conn.chosen
            mcp = conn.session
            if mcp is None:  # nothing to reuse: later sessions could only repeat this
                record.failure = _failure(steps, conn.outcome, negotiating=True)
                record.duration_s = loop.time() - started
                return
            opened = conn.outcome
        else:
            mcp.sink = steps.append
            opened = await mcp.open()
        if await _closed(mcp, opened, started, report=report, record=record, ask=ask):
            return  # the call was refused: every later session would be refused the same way


async def _closed(
    mcp: McpSession, opened: Outcome, started: float, *, report: SmokeReport, record: SmokeSession, ask: _Ask
) -> bool:
    """One opened session's work, then its end, its time (from ``started``) and its verdict.

    True when the call was refused and the smoke should stop.
    """
    refused = False
    try:
        refused = await _session(mcp, opened, report, record, ask)
        await mcp.close()
    finally:
        mcp.abandon()
    record.duration_s = asyncio.get_running_loop().time() - started
    if record.failure is None:
        record.failure = _failure(record.steps, opened, negotiating=False)
    record.ok = record.failure is None
    return refused


def _reason(report: SmokeReport) -> str | None:
    """The smoke's first failure, one line: a failed session, sessions that never ran, the certificate."""
    failed = next((s for s in report.sessions if not s.ok), None)
    cert = cert_problem(report.cert, report.min_cert_days)
    if failed is not None:
        return f"session {failed.number}: {failed.failure}"
    if len(report.sessions) < report.planned:
        return f"only {len(report.sessions)} of {report.planned} sessions ran"
    return cert


async def _session(mcp: McpSession, opened: Outcome, report: SmokeReport, record: SmokeSession, ask: _Ask) -> bool:
    """One opened session's work; True when the call was refused and the smoke should stop."""
    if not opened.ok:
        return False
    identity = mcp.identity
    if identity is not None and report.transport is None:
        report.transport = identity.transport
        report.protocol_version = identity.protocol_version
        report.server_info = identity.server_info
    listed = await mcp.list_tools()
    if not listed.ok:
        return False
    report.tools = list(mcp.tools)
    for warning in mcp.warnings:
        if warning not in report.warnings:
            report.warnings.append(warning)
    if ask.call is None:
        return False
    try:
        chosen = _choose(ask.call, mcp.tools, ask.arguments, ask.allow_writes)
    except _Refused as exc:
        record.failure = str(exc)
        return True
    if chosen is None:
        note = "call auto: no tool is marked readOnlyHint, so no call was made"
        if ask.require_calls:
            record.failure = f"require-calls: {note} (tools: {', '.join(mcp.tools) or 'none'})"
            return True
        if note not in report.warnings:
            report.warnings.append(note)
        return False
    tool, args = chosen
    report.call = record.tool = tool.name
    await mcp.call_tool(tool.name, args)
    return False


def _choose(
    call: str, tools: Mapping[str, ToolInfo], arguments: Mapping[str, Any] | None, allow_writes: bool
) -> tuple[ToolInfo, Mapping[str, Any]] | None:
    """The tool to call and its arguments (synthesized from its inputSchema unless given)."""
    if call == AUTO:
        tool = next((t for t in tools.values() if t.read_only), None)
        return None if tool is None else (tool, synthesize_arguments(tool.input_schema))
    tool = tools.get(call)
    if tool is None:
        listed = ", ".join(list(tools)[:12]) or "none"
        raise _Refused(f"tool {call!r} is not in the server's tools/list (it offers: {listed})")
    if not tool.read_only and not allow_writes:
        raise _Refused(
            f"tool {call!r} is not marked readOnlyHint and a smoke check does not call tools that may write "
            "(--allow-writes to call it anyway)"
        )
    return tool, arguments if arguments is not None else synthesize_arguments(tool.input_schema)


def _failure(steps: list[Step], outcome: Outcome, *, negotiating: bool) -> str | None:
    """One line for a failed session: negotiation's own summary, or the first failed step."""
    if negotiating and not outcome.ok:
        return outcome.describe()
    step = first_failure(steps)
    if step is not None:
        return f"{step_label(step)}: {step.outcome.describe()}"
    return None if outcome.ok else outcome.describe()


def _check(
    spec: ConnectSpec,
    *,
    sessions: int,
    interval: float,
    call: str | None,
    arguments: Mapping[str, Any] | None,
    min_cert_days: int | None,
) -> None:
    if not 1 <= sessions <= MAX_SESSIONS:
        raise UsageError("sessions", f"must be between 1 and {MAX_SESSIONS}, got {sessions}")
    if not math.isfinite(interval) or interval < 0:
        raise UsageError("interval", f"must be a duration >= 0, got {interval!r}")
    if call is not None and not call.strip():
        raise UsageError("call", "must name a tool, or be auto")
    if arguments is not None and (call is None or call == AUTO):
        raise UsageError("args", "needs a named tool to call (auto synthesizes its own arguments)")
    if min_cert_days is not None:
        if min_cert_days < 0:
            raise UsageError("min_cert_days", f"must be 0 or more, got {min_cert_days}")
        if not spec.url.startswith("https://"):
            raise UsageError("min_cert_days", "needs an https:// URL (there is no certificate to check)")


# -- rendering: pure functions of the report -------------------------------------------------


def smoke_dict(report: SmokeReport, redact: Redactor) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "url": redact.url(report.url),
        "sessions_planned": report.planned,
        "sessions_ok": sum(1 for s in report.sessions if s.ok),
        "transport": report.transport,
        "protocol_version": report.protocol_version,
        "chosen": redact(report.chosen),
        "server_info": redact.json(report.server_info),
        "tools": [redact(t) for t in report.tools],
        "call": redact(report.call) if report.call is not None else None,
        "sessions": [_session_dict(s, redact) for s in report.sessions],
        "cert": redact.json(cert_dict(report.cert)) if report.cert is not None else None,
        "min_cert_days": report.min_cert_days,
        "elapsed_ms": round(report.elapsed_s * 1000, 3),
        "warnings": [redact(w) for w in report.warnings],
        "reason": redact(report.reason) if report.reason is not None else None,
    }


def _session_dict(session: SmokeSession, redact: Redactor) -> dict[str, Any]:
    return {
        "session": session.number,
        "ok": session.ok,
        "started_ms": round(session.started_s * 1000, 3),
        "duration_ms": round(session.duration_s * 1000, 3),
        "tool": redact(session.tool) if session.tool is not None else None,
        "steps": [step_dict(s, redact) for s in session.steps],
        "failure": redact(session.failure) if session.failure is not None else None,
    }


def render_smoke_text(report: SmokeReport, redact: Redactor) -> str:
    lines = [f"mcpgate smoke {redact.url(report.url)}"]
    if report.transport:
        lines.append(redact(f"  transport  {report.chosen}"))
        lines.append(f"  protocol   {report.protocol_version}")
    if report.server_info:
        name, version = report.server_info.get("name", "?"), report.server_info.get("version", "")
        lines.append(redact(f"  server     {name} {version}".rstrip()))
    if report.tools:
        lines.append(redact(f"  tools      ({len(report.tools)}) {', '.join(report.tools)}"))
    if report.call:
        lines.append(redact(f"  call       {report.call}"))
    if report.cert is not None:
        lines.append(redact(f"  tls        {_cert_text(report)}"))
    width = max((len(step_label(s)) for r in report.sessions for s in r.steps), default=10)
    for session in report.sessions:
        lines.append("")
        mark = MARK_OK if session.ok else MARK_FAIL
        lines.append(f"  session {session.number}  {mark} {ms(session.duration_s)}  (+{session.started_s:.2f}s)")
        lines.extend(redact(_step_line(step, width)) for step in session.steps)
        if session.failure and first_failure(session.steps) is None:
            lines.append(redact(f"    {MARK_FAIL} {session.failure}"))
    for warning in report.warnings:
        lines.append(f"  warning: {redact(warning)}")
    lines.append("")
    if report.ok:
        steps = sum(len(s.steps) for s in report.sessions)
        counts = f"{len(report.sessions)} of {report.planned} sessions ok, {steps} steps"
        lines.append(f"ok: {counts}, {_cert_summary(report)}")
    else:
        lines.append(f"FAILED: {redact(report.reason or 'unknown')}")
    return "\n".join(lines)


def render_smoke_markdown(report: SmokeReport, redact: Redactor) -> str:
    """A section for a GitHub job summary: the verdict, a table of sessions, the certificate."""
    passed = sum(1 for s in report.sessions if s.ok)
    if report.ok:
        head = f"### ✅ Smoke check passed: {passed}/{report.planned} sessions ok"
    else:
        head = f"### ❌ Smoke check failed: {md_cell(redact(report.reason or 'unknown'))}"
    shape = [f"`{md_cell(redact.url(report.url))}`"]
    if report.transport:
        shape.append(f"{report.transport}, protocol {report.protocol_version}")
    if report.server_info:
        name, version = report.server_info.get("name", "?"), report.server_info.get("version", "")
        shape.append(md_cell(redact(f"server {name} {version}".rstrip())))
    if report.call:
        shape.append(md_cell(redact(f"call {report.call}")))
    lines = [head, "", " · ".join(shape), ""]
    if report.sessions:
        lines += ["| Session | Result | Time | Steps |", "|---:|---|---:|---|"]
        for s in report.sessions:
            result = f"{MARK_OK} ok" if s.ok else f"{MARK_FAIL} {s.failure or 'failed'}"
            steps = " · ".join(f"{step_label(st)} {ms(st.duration)}" for st in s.steps if not st.fallback) or "-"
            row = [str(s.number), md_cell(redact(result)), ms(s.duration_s), md_cell(redact(steps))]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if report.cert is not None:
        lines.append(f"**TLS**: {md_cell(redact(_cert_text(report)))}")
        lines.append("")
    for warning in report.warnings:
        lines.append(f"> warning: {md_cell(redact(warning))}")
    return "\n".join(lines).rstrip() + "\n"


def _cert_text(report: SmokeReport) -> str:
    cert = report.cert
    assert cert is not None
    text = cert_line(cert)
    if report.min_cert_days is not None:
        verdict = MARK_FAIL if cert_problem(cert, report.min_cert_days) else MARK_OK
        text = f"{text} (minimum {days(report.min_cert_days)}) {verdict}"
    return text


def _cert_summary(report: SmokeReport) -> str:
    cert = report.cert
    if cert is None:
        return "no TLS"
    if cert.days_left is None:
        return "certificate not read"
    return f"certificate {days(cert.days_left)} left"


def _step_line(step: Step, width: int) -> str:
    mark = "·" if step.fallback else "↻" if step.retried else MARK_OK if step.outcome.ok else MARK_FAIL
    status = str(step.http_status) if step.http_status is not None else "-"
    detail = "ok" if step.outcome.ok else step.outcome.describe()
    if step.fallback:
        detail = f"{detail} (tried; fell back)"
    if step.note:
        detail = f"{detail}; {step.note}"
    timing = f"{status:>3} {step.framing or '':<4} {ms(step.duration):>10}"
    return f"    {mark} {step_label(step):<{width}}  {timing}  {detail}"
