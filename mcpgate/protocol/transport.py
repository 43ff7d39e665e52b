"""What the session layer needs from a transport, whichever era or wire it speaks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mcpgate.protocol.jsonrpc import JSONObject, RequestId
from mcpgate.protocol.outcome import Outcome

STREAMABLE_HTTP = "streamable-http"
LEGACY_SSE = "sse"
TRANSPORTS = (STREAMABLE_HTTP, LEGACY_SSE)

# Steps that are HTTP actions rather than JSON-RPC methods; the first two open held streams.
SSE_CONNECT = "sse/connect"  # the legacy stream's GET, until its endpoint event
SSE_LISTEN = "sse/listen"  # the standalone GET stream of Streamable HTTP, until its headers
SESSION_DELETE = "session/delete"

# Three missed keepalives of the official SDKs (a comment every 15 s, Python and TypeScript alike).
DEFAULT_STREAM_IDLE = 45.0

# Called for every server-to-client request or notification seen on any stream.
ServerMessageHandler = Callable[[JSONObject], None]


@dataclass
class ServerQuirks:
    """What a run learns about its server once, and every later session reuses."""

    lingering_streams: bool = False  # SSE responses stay open after the answer
    get_stream: bool | None = None  # False: the GET stream was answered 405 (the server offers none)


@dataclass(frozen=True, slots=True)
class Streams:
    """How a session holds server-to-client streams."""

    listen: bool | None = False  # the standalone GET stream: True always, False never, None as the clients do
    idle_timeout: float = DEFAULT_STREAM_IDLE  # seconds of silence before a held stream counts as stalled; 0: never


class SessionMeter(Protocol):
    """What a run measures about a session besides its steps (the recorder): its held streams,
    the messages the server sends, re-initializations and followed redirects as they happen."""

    def stream_opened(self, method: str) -> None: ...

    def stream_data(self, received: int, events: int) -> None: ...

    def stream_ended(self, method: str, seconds: float, outcome: Outcome) -> None: ...

    def server_message(self, method: str, request: bool) -> None: ...

    def server_request_answered(self, method: str, seconds: float) -> None: ...

    def session_reinitialized(self) -> None: ...

    def redirect_followed(self) -> None: ...

    def auth_token(self, seconds: float | None, ok: bool) -> None: ...

    def auth_refreshed(self) -> None: ...


class NoMeter:
    """For sessions nobody measures (probe, preflight, negotiation)."""

    def stream_opened(self, method: str) -> None:
        return None

    def stream_data(self, received: int, events: int) -> None:
        return None

    def stream_ended(self, method: str, seconds: float, outcome: Outcome) -> None:
        return None

    def server_message(self, method: str, request: bool) -> None:
        return None

    def server_request_answered(self, method: str, seconds: float) -> None:
        return None

    def session_reinitialized(self) -> None:
        return None

    def redirect_followed(self) -> None:
        return None

    def auth_token(self, seconds: float | None, ok: bool) -> None:
        return None

    def auth_refreshed(self) -> None:
        return None


NO_METER = NoMeter()


@dataclass(slots=True)
class Reply:
    """The raw answer to one request: the matching message, not yet checked."""

    message: object
    http_status: int
    done_at: float  # perf_counter() when the answer was in (before any stream draining)
    server_messages: int = 0  # notifications and requests that came before it
    received: int = 0  # body bytes read
    session_id: str | None = None
    framing: str | None = None  # "json" or "sse" on Streamable HTTP; None on the legacy stream


class Transport(Protocol):
    name: str
    on_server_message: ServerMessageHandler | None
    session_id: str | None  # the server's session, when it gave one
    status: int | None  # HTTP status of the latest measured exchange, once its headers are in
    meter: SessionMeter  # told of every held stream's life
    stream_idle: float  # seconds of silence before a held stream counts as stalled; 0: never

    @property
    def holding(self) -> bool:
        """A server-to-client stream is held open right now."""
        ...

    async def connect(self, deadline: float) -> int | None:
        """Open what must be open before the first request; the HTTP status if that took a request."""
        ...

    def set_version(self, version: str | None) -> None:
        """The protocol version later requests declare (MCP-Protocol-Version)."""
        ...

    def authorize(self, value: str) -> None:
        """The Authorization header of later requests (an OAuth access token, replaced as it expires)."""
        ...

    async def listen(self, deadline: float, resume: str | None = None) -> int | None:
        """Open the standalone GET stream and hold it; its HTTP status (405: none offered), or None
        when the transport holds its stream anyway (legacy SSE)."""
        ...

    async def request(
        self, request_id: RequestId, body: bytes, headers: Mapping[str, str] | None, deadline: float
    ) -> Reply:
        """Send one JSON-RPC request and return the message answering it (or raise Failure).

        ``deadline`` is event-loop time; past it the transport raises a timeout failure itself,
        which is cheaper per request than a task-level timeout around it.
        """
        ...

    async def notify(self, body: bytes, headers: Mapping[str, str] | None, deadline: float) -> int:
        """Send a notification; return the HTTP status (or raise Failure)."""
        ...

    async def answer(self, body: bytes) -> None:
        """Send a response to a server request; unmeasured, and failures are the server's to notice."""
        ...

    async def close(self, deadline: float | None = None) -> int | None:
        """End the session on the wire; the HTTP status of the DELETE, if one was sent."""
        ...

    def abandon(self) -> None:
        """Drop held streams at once, without a request (safe while being cancelled)."""
        ...
