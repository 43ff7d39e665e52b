"""What a session and its callers share: where to talk (``Target``), what the server
turned out to be (``ServerIdentity``, ``ToolInfo``), and a ``Step`` for each exchange,
which the probe lists, the smoke test reports and the load engine turns into metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mcpgate import __version__
from mcpgate.protocol import modern
from mcpgate.protocol.auth import AuthSource
from mcpgate.protocol.client_side import ClientAnswers
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.jsonrpc import JSONObject
from mcpgate.protocol.outcome import Outcome
from mcpgate.protocol.transport import ServerQuirks

CLIENT_INFO: Mapping[str, str] = {"name": "mcpgate", "version": __version__}


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to talk: everything negotiation settles, made concrete."""

    url: str
    transport: str  # streamable-http | sse
    version: str  # the version to ask for (handshake) or speak (modern)
    settings: HttpSettings = field(default_factory=HttpSettings)
    expect_version: str | None = None
    client_info: Mapping[str, str] = field(default_factory=lambda: dict(CLIENT_INFO))
    quirks: ServerQuirks = field(default_factory=ServerQuirks, compare=False)
    auth: AuthSource | None = field(default=None, compare=False)  # OAuth: where access tokens come from
    client: ClientAnswers | None = field(default=None, compare=False)  # answers to server requests; None: none


@dataclass(slots=True)
class Step:
    """One exchange on the wire and how it ended."""

    method: str
    outcome: Outcome
    duration: float  # seconds, monotonic
    http_status: int | None = None
    tool: str | None = None
    server_messages: int = 0
    sent: int = 0
    received: int = 0
    note: str = ""
    fallback: bool = False  # a negotiation attempt whose failure only chose the era
    retried: bool = False  # answered by a recovery (re-initialize, re-list) and sent again
    framing: str | None = None  # how the answer came: "json" or "sse" (Streamable HTTP)
    wire: bool = True  # False: never sent (its session could not be re-opened); no HTTP request to count
    allowed_status: bool = False  # a status >= 400 the protocol allows here (405 to the GET stream or a DELETE)
    name: str | None = None  # what a method other than tools/call acted on: a prompt's name, a resource's uri
    progress: int = 0  # notifications/progress that carried this request's progressToken
    cancelled: bool = False  # given up on, and the server told (notifications/cancelled; 2026: stream closed)
    task_duration: float | None = None  # seconds from a task-augmented tools/call to its final result (tasks/result)


StepSink = Callable[[Step], None]


@dataclass(frozen=True, slots=True)
class CallOptions:
    """How one request goes beyond a plain request and answer (a flow step's settings)."""

    timeout: float | None = None  # this request's limit instead of the target's; on expiry the server is told
    progress: bool = False  # send _meta.progressToken and count the notifications/progress it brings
    task: bool = False  # a task-augmented tools/call, when the server offers tasks for tools/call
    cancel_after: float | None = None  # give the request up after this long, on purpose: cancelled, and ok


PLAIN = CallOptions()


def step_label(step: Step) -> str:
    return f"{step.method} {step.tool}" if step.tool else step.method


def first_failure(steps: list[Step]) -> Step | None:
    """The step that made a session fail: not a negotiation attempt, not one a recovery answered."""
    return next((s for s in steps if not (s.fallback or s.retried or s.outcome.ok)), None)


@dataclass(slots=True)
class ToolInfo:
    name: str
    input_schema: JSONObject
    annotations: JSONObject
    description: str = ""
    param_headers: list[modern.ParamHeader] = field(default_factory=list)
    task_support: str = "forbidden"  # execution.taskSupport: forbidden | optional | required (2025-11-25 tasks)

    @property
    def read_only(self) -> bool:
        return self.annotations.get("readOnlyHint") is True


@dataclass(slots=True)
class ServerIdentity:
    transport: str
    protocol_version: str
    server_info: JSONObject | None
    capabilities: JSONObject | None
    instructions: str | None = None

    @classmethod
    def of(cls, transport: str, version: str, result: JSONObject, server_info: Any) -> ServerIdentity:
        caps, instructions = result.get("capabilities"), result.get("instructions")
        return cls(
            transport,
            version,
            server_info if isinstance(server_info, dict) else None,
            caps if isinstance(caps, dict) else None,
            instructions if isinstance(instructions, str) else None,
        )
