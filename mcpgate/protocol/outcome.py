"""How one exchange ended: exactly one class, a short reason, and the evidence.

Every failure inside the client becomes a value of this type. ``Failure`` only
carries an outcome up the call stack inside a session; it never leaves one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Kind(StrEnum):
    OK = "ok"
    TOOL_ERROR = "tool_error"  # tools/call answered with isError: true
    JSONRPC_ERROR = "jsonrpc_error"  # the server answered with a JSON-RPC error (see code)
    HTTP_ERROR = "http_error"  # a non-2xx status without a JSON-RPC answer to our request
    TIMEOUT = "timeout"  # connect or total time limit passed
    CONNECTION_ERROR = "connection_error"  # refused, reset, DNS, TLS
    PROTOCOL_ERROR = "protocol_error"  # the server broke MCP, JSON-RPC, HTTP or SSE rules
    STREAM_CLOSED = "stream_closed"  # the server ended a stream the client meant to keep open
    STREAM_STALLED = "stream_stalled"  # a held stream sent no byte, not even a keepalive, for too long
    AUTH_ERROR = "auth_error"  # no access token: the authorization server refused, or could not be found
    CHECK_FAILED = "check_failed"  # an answer that arrived whole but is not the one expected (a step's expect:)
    CAPTURE_ERROR = "capture_error"  # a step's capture: found nothing in its answer; the steps after it are not sent


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Kind
    reason: str = ""
    http_status: int | None = None
    code: int | None = None  # JSON-RPC error code, for jsonrpc_error

    @property
    def ok(self) -> bool:
        return self.kind is Kind.OK

    def describe(self) -> str:
        """One line: class, then status or code, then the reason."""
        parts = [self.kind.value]
        if self.kind is Kind.JSONRPC_ERROR and self.code is not None:
            parts.append(str(self.code))
        elif self.kind is Kind.HTTP_ERROR and self.http_status is not None:
            parts.append(str(self.http_status))
        head = " ".join(parts)
        return f"{head}: {self.reason}" if self.reason else head


OK = Outcome(Kind.OK)


class Failure(Exception):
    """Carries an outcome from deep in a transport to the session boundary."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.describe())
        self.outcome = outcome

    def with_status(self, status: int) -> Failure:
        """The same failure, stamped with the HTTP status of the response it happened in."""
        if self.outcome.http_status is not None:
            return self
        return Failure(replace(self.outcome, http_status=status))

    def fresh(self) -> Failure:
        """A new instance to raise again: re-raising one object would grow its traceback forever."""
        return Failure(self.outcome)


def fail(kind: Kind, reason: str, *, http_status: int | None = None, code: int | None = None) -> Failure:
    return Failure(Outcome(kind, reason, http_status=http_status, code=code))


def protocol_error(reason: str, *, http_status: int | None = None) -> Failure:
    return fail(Kind.PROTOCOL_ERROR, reason, http_status=http_status)


def shorten(text: str, limit: int = 160) -> str:
    """A reason stays one short line whatever the server sent."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
