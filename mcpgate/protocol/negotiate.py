"""``--transport auto`` and ``--protocol-version auto``: find what the server speaks.

The same order as the official 2.x client, then the spec's legacy detection:

    1. POST server/discover at 2026-07-28   ok -> modern, stateless
         anything but an outage (refused, timeout) falls through
    2. POST initialize at 2025-11-25         ok -> Streamable HTTP with the handshake
         400 / 404 / 405 without a JSON-RPC answer falls through (transport auto only)
    3. GET the URL, expect an SSE stream whose first event is `endpoint`
                                             ok -> legacy HTTP+SSE

Attempts that only ruled an era out stay in the record, marked ``fallback``, so
a reader sees what was tried. The result is a concrete ``Target`` that every
later session of a run reuses without negotiating again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from mcpgate.protocol.auth import AuthSource
from mcpgate.protocol.client_side import ClientAnswers
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.jsonrpc import HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY, IdSource
from mcpgate.protocol.outcome import Kind, Outcome
from mcpgate.protocol.records import CLIENT_INFO, Step, StepSink, Target
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.transport import LEGACY_SSE, STREAMABLE_HTTP
from mcpgate.protocol.versions import AUTO, LATEST_HANDSHAKE, LATEST_MODERN, is_modern
from mcpgate.protocol.wire.pool import Pool


@dataclass(frozen=True, slots=True)
class ConnectSpec:
    """What the user asked for; ``auto`` where mcpgate should find out."""

    url: str
    transport: str = AUTO  # auto | streamable-http | sse
    version: str = AUTO  # auto | a known version
    settings: HttpSettings = field(default_factory=HttpSettings)
    expect_version: str | None = None
    client_info: Mapping[str, str] = field(default_factory=lambda: dict(CLIENT_INFO))
    auth: AuthSource | None = None  # OAuth: access tokens instead of a fixed Authorization header
    client: ClientAnswers | None = None  # answers to the server's requests (sampling, elicitation, roots)


@dataclass(slots=True)
class Connection:
    outcome: Outcome
    session: McpSession | None  # open, when the outcome is ok
    target: Target | None
    chosen: str  # what was chosen and why, for people


async def connect(http: Pool, spec: ConnectSpec, *, ids: IdSource, sink: StepSink) -> Connection:
    """An open session on what the server speaks, found in the order above (or the one ``spec`` names)."""
    return await _Negotiation(http, spec, ids, sink).run()


class _Negotiation:
    """One ``connect``: the eras tried so far, and the steps held back until an attempt is judged."""

    def __init__(self, http: Pool, spec: ConnectSpec, ids: IdSource, sink: StepSink) -> None:
        self._http = http
        self._spec = spec
        self._ids = ids
        self._sink = sink
        self._tried: list[str] = []
        self._pending: list[Step] = []
        self._failure: Outcome | None = None  # initialize's answer, when it sent us on to legacy SSE

    async def run(self) -> Connection:
        spec = self._spec
        streamable = spec.transport in (AUTO, STREAMABLE_HTTP)
        if streamable and (spec.version == AUTO or is_modern(spec.version)):
            found = await self._discover()
            if found is not None:
                return found
        if streamable and not is_modern(spec.version):
            found = await self._initialize()
            if found is not None:
                return found
        return await self._legacy()

    async def _discover(self) -> Connection | None:
        """1. server/discover: the connection, or None when the answer only ruled the modern era out."""
        spec = self._spec
        tgt = self._target(STREAMABLE_HTTP, LATEST_MODERN if spec.version == AUTO else spec.version)
        session, outcome = await self._attempt(tgt)
        if outcome.ok:
            return await self._settle(
                session, outcome, tgt, f"{STREAMABLE_HTTP}, {tgt.version} (server/discover answered)"
            )
        if spec.version != AUTO or _not_an_era_verdict(outcome):
            return await self._settle(session, outcome, None, "server/discover failed")
        self._abandon("server/discover", outcome)
        return None

    async def _initialize(self) -> Connection | None:
        """2. POST initialize: the connection, or None when the answer looks like a legacy server's."""
        spec = self._spec
        tgt = self._target(STREAMABLE_HTTP, LATEST_HANDSHAKE if spec.version == AUTO else spec.version)
        session, outcome = await self._attempt(tgt)
        if outcome.ok:
            return await self._settle(session, outcome, tgt, _why(f"{STREAMABLE_HTTP}, handshake", self._tried))
        await session.close()
        if spec.transport != AUTO or not _answers_like_legacy(outcome):
            return await self._settle(None, outcome, None, _why("initialize failed", self._tried))
        self._abandon("POST initialize", outcome)
        self._failure = outcome
        return None

    async def _legacy(self) -> Connection:
        """3. GET for a legacy SSE stream: the last try, so its failure is the verdict."""
        spec, failure = self._spec, self._failure
        tgt = self._target(LEGACY_SSE, LATEST_HANDSHAKE if spec.version == AUTO else spec.version)
        session, outcome = await self._attempt(tgt)
        if outcome.ok:
            return await self._settle(
                session, outcome, tgt, _why(f"{LEGACY_SSE} (legacy HTTP+SSE), handshake", self._tried)
            )
        await session.close()
        if failure is not None and _not_an_sse_endpoint(self._pending):
            # Neither transport answered: say so with both answers, not just the last.
            outcome = replace(
                failure,
                reason=f"no MCP endpoint at this URL: POST initialize got {failure.describe()}; "
                f"GET for legacy SSE got {outcome.describe()}",
            )
        return await self._settle(None, outcome, None, _why("no transport answered", self._tried))

    def _target(self, transport: str, version: str) -> Target:
        spec = self._spec
        # Under auto the expectation is checked once negotiation is over, so an era the
        # server also speaks is not mistaken for a wrong answer.
        expect = spec.expect_version if spec.version != AUTO else None
        return Target(
            spec.url, transport, version, spec.settings, expect, spec.client_info, auth=spec.auth, client=spec.client
        )

    async def _attempt(self, tgt: Target) -> tuple[McpSession, Outcome]:
        session = McpSession(self._http, tgt, ids=self._ids, sink=self._pending.append)
        return session, await session.open()

    async def _settle(self, session: McpSession | None, outcome: Outcome, tgt: Target | None, why: str) -> Connection:
        """The verdict: the held-back steps told, and the session handed on (or closed) with its target."""
        spec, pending = self._spec, self._pending
        if outcome.ok and session is not None and session.identity is not None and spec.expect_version:
            negotiated = session.identity.protocol_version
            if negotiated != spec.expect_version:
                outcome = Outcome(
                    Kind.PROTOCOL_ERROR, f"server negotiated {negotiated}, expected {spec.expect_version}"
                )
                opening = [s for s in pending if s.method in ("initialize", "server/discover")]
                if opening:
                    opening[-1].outcome = outcome
                await session.close()
        for step in pending:
            self._sink(step)
        if session is not None:
            session.sink = self._sink
        if not outcome.ok:
            return Connection(outcome, None, None, why)
        assert tgt is not None
        return Connection(outcome, session, replace(tgt, expect_version=spec.expect_version), why)

    def _abandon(self, what: str, outcome: Outcome) -> None:
        """An attempt that only ruled an era out: its steps told as fallbacks, its answer noted."""
        for step in self._pending:
            step.fallback = True
            self._sink(step)
        self._pending.clear()
        status = outcome.http_status if outcome.kind is Kind.HTTP_ERROR else None
        self._tried.append(f"{what} -> {status or outcome.kind.value}")


def _not_an_era_verdict(outcome: Outcome) -> bool:
    """An outage (or no access token) says nothing about the era; a header or capability rejection
    proves a modern server."""
    if outcome.kind in (Kind.TIMEOUT, Kind.CONNECTION_ERROR, Kind.AUTH_ERROR):
        return True
    return outcome.kind is Kind.JSONRPC_ERROR and outcome.code in (HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY)


def _answers_like_legacy(outcome: Outcome) -> bool:
    return outcome.kind is Kind.HTTP_ERROR and outcome.http_status in (400, 404, 405)


def _not_an_sse_endpoint(steps: list[Step]) -> bool:
    return bool(steps) and steps[0].method == "sse/connect" and not steps[0].outcome.ok


def _why(choice: str, tried: list[str]) -> str:
    return f"{choice} (tried {', '.join(tried)})" if tried else choice
