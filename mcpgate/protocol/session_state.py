"""What every part of an MCP session shares.

``McpSession`` is built in layers, one job each, every layer using only those below it:

    session_replies    answering what the server sends us (its requests and notifications)
    session_rounds     2026-07-28's input_required: the server's requests answered, the request sent again
    session_exchange   one request and its answer, timed, judged and recorded as a Step
    session_listen     the standalone GET stream, held and reopened
    session_open       opening a session, and opening it again when the server lost it
    surface            requests by method: resources, prompts, completion, logging, ping, any method
    tasks              task-augmented tools/call: polled to the task's end, its result fetched
    session            the public flow: list tools, call them, close

The layers are classes of one instance, so a request costs the calls it always did.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from mcpgate.protocol.auth import TokenProvider
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.jsonrpc import IdSource, JSONObject
from mcpgate.protocol.records import ServerIdentity, StepSink, Target, ToolInfo
from mcpgate.protocol.session_http import SessionHttp
from mcpgate.protocol.transport import SessionMeter, Streams, Transport
from mcpgate.protocol.wire.pool import Pool


class SessionState:
    """The state the layers read and write; declared here, set by ``McpSession.__init__``."""

    target: Target
    sink: StepSink
    streams: Streams  # set before open(); the default holds no GET stream
    meter: SessionMeter  # told of held streams and of the messages the server sends
    modern: bool  # 2026-07-28: no handshake, no session, no back channel
    identity: ServerIdentity | None
    tools: dict[str, ToolInfo]
    warnings: list[str]
    reinits: int  # in the current session
    redirects: int  # same-origin 307/308 hops followed, over all of this client's sessions
    server_messages: Counter[str]
    auth: TokenProvider | None  # OAuth: this virtual user's access tokens
    _bearer: str | None  # the access token the transport sends now
    _http: Pool
    _settings: HttpSettings
    _ids: IdSource
    _meta: JSONObject | None  # the ``_meta`` every modern request carries
    _transport: Transport
    _client: SessionHttp  # the current session's requests: its cookie jar, its redirects
    _used: bool  # open() was called: the next one needs a fresh transport
    _ending: bool  # close() or abandon() has begun: streams that end now are not reopened
    _relisten: asyncio.TimerHandle | None  # a GET stream reconnect, waiting
    _relistening: asyncio.Task[None] | None  # a GET stream reconnect, under way
    _background: set[asyncio.Task[None]]  # answers to the server, still being sent
