"""MCP sessions, whatever the transport and era: open, list tools, call tools, close.

An ``McpSession`` belongs to one virtual user and is reused: each ``open()``
starts a new MCP session on a fresh transport. Every public method returns an
``Outcome`` and reports each wire exchange as a ``Step`` to a sink (the probe's
list, or the load engine's metrics). Nothing raises out of a session except bugs.

The class is built in layers, listed in session_state.py: the eras and their openings
(session_open.py), the standalone GET stream a session may hold as the official clients
do (session_listen.py), the answers to what the server sends (session_replies.py), the
client surface beyond tools (surface.py) and task-augmented calls (tasks.py).
A legacy session lives on its held GET stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from mcpgate.protocol import modern
from mcpgate.protocol.client_side import declared
from mcpgate.protocol.jsonrpc import HEADER_MISMATCH, IdSource, JSONObject
from mcpgate.protocol.judging import judge_tool_result, tool_info
from mcpgate.protocol.outcome import OK, Kind, Outcome, shorten
from mcpgate.protocol.records import PLAIN, CallOptions, StepSink, Target, ToolInfo
from mcpgate.protocol.session_exchange import Answer
from mcpgate.protocol.tasks import TaskCalls
from mcpgate.protocol.transport import NO_METER, SESSION_DELETE, SessionMeter, Streams
from mcpgate.protocol.versions import is_modern
from mcpgate.protocol.wire.pool import Pool

MAX_TOOL_PAGES = 100


class McpSession(TaskCalls):
    """One virtual user's MCP client: each ``open()`` a new session, every method an ``Outcome``."""

    def __init__(
        self,
        http: Pool,
        target: Target,
        *,
        ids: IdSource,
        sink: StepSink,
        streams: Streams | None = None,
        meter: SessionMeter = NO_METER,
    ) -> None:
        self._http = http
        self.target = target
        self._settings = target.settings
        self._ids = ids
        self.sink = sink
        self.streams = streams or Streams()
        self.meter = meter
        self._relisten = None
        self._relistening = None
        self._ending = False
        self.modern = is_modern(target.version)
        self._meta = modern.meta(target.version, target.client_info, declared(target.client)) if self.modern else None
        self.redirects = 0
        self._transport = self._new_transport()
        self._used = False
        self.identity = None
        self.tools = {}
        self.warnings = []
        self.reinits = 0
        self.server_messages = Counter()
        self._progress = {}
        self._background = set()
        self.auth = target.auth.provider() if target.auth is not None else None
        self._bearer = None

    async def list_tools(self) -> Outcome:
        """tools/list, following nextCursor to the last page."""
        tools: dict[str, ToolInfo] = {}
        warnings: list[str] = []
        seen: set[str] = set()

        def judge(result: JSONObject) -> Outcome:
            if not isinstance(result.get("tools"), list):
                return Outcome(Kind.PROTOCOL_ERROR, "tools/list result has no tools array")
            cursor = result.get("nextCursor")
            if cursor is not None:
                if not isinstance(cursor, str) or cursor in seen:
                    return Outcome(
                        Kind.PROTOCOL_ERROR, f"nextCursor {shorten(repr(cursor), 40)} repeats or is not a string"
                    )
                if len(seen) + 1 >= MAX_TOOL_PAGES:
                    return Outcome(Kind.PROTOCOL_ERROR, f"more than {MAX_TOOL_PAGES} pages of tools")
            return OK

        params: JSONObject = {}
        while True:
            outcome, result = await self._request("tools/list", params, judge=judge)
            if not outcome.ok or result is None:
                return outcome
            for raw in result["tools"]:
                tool = tool_info(raw, warnings, self.modern)
                if tool is not None:
                    tools[tool.name] = tool
            cursor = result.get("nextCursor")
            if cursor is None:
                self.tools, self.warnings = tools, warnings
                return OK
            seen.add(cursor)
            params = {"cursor": cursor}

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any],
        *,
        check: Callable[[JSONObject], Outcome] | None = None,
        label: str | None = None,
        options: CallOptions = PLAIN,
    ) -> Answer:
        """tools/call; ``check`` judges a result the protocol found good (a step's ``expect:``),
        ``label`` is the step's name tag (default: the tool's name).

        ``options``: its own timeout (on expiry the server is told), a progressToken whose
        notifications are counted, or a task-augmented call measured to its final result.
        """
        params: JSONObject = {"name": name, "arguments": arguments if isinstance(arguments, dict) else dict(arguments)}
        judge = judge_tool_result if check is None else partial(_checked, check)
        refused = None
        if options.task:
            refused = self.task_refusal(name)
            if refused is None:
                return await self._task_call(params, name, judge, options, label)
        answer = await self._call(params, name, judge, options)
        if self.modern and answer.outcome.kind is Kind.JSONRPC_ERROR and answer.outcome.code == HEADER_MISMATCH:
            # The spec's recovery: the tool's schema may have changed; list again, then retry once.
            answer.step.note = "header mismatch: tools listed again and the call retried"
            answer.step.retried = True
            self.sink(answer.step)
            listed = await self.list_tools()
            if not listed.ok:
                return Answer(listed, None, answer.step)
            answer = await self._call(params, name, judge, options)
        if refused is not None:
            answer.step.note = refused
        answer.step.name = label
        self.sink(answer.step)
        return answer

    async def _call(
        self, params: JSONObject, name: str, judge: Callable[[JSONObject], Outcome], options: CallOptions = PLAIN
    ) -> Answer:
        extra: dict[str, str] | None = None
        if self.modern and (tool := self.tools.get(name)) is not None and tool.param_headers:
            extra = modern.argument_headers(tool.param_headers, params["arguments"])
        return await self._recovering("tools/call", params, name, judge, extra, options=options)

    async def close(self, within: float | None = None) -> Outcome:
        """End the session on the wire: drop its streams, then DELETE when the server gave a session id.

        ``within`` bounds it all (the answers still being sent, then the DELETE) more tightly than the
        request timeout: a VU that is being stopped must not linger.
        """
        self._ending = True
        self._stop_relisten()
        await self._settle_background(within)
        if self._transport.session_id is None:
            await self._transport.close()
            return OK
        return await self._timed(SESSION_DELETE, self._transport.close, within=within)

    def abandon(self) -> None:
        """Drop the session's resources without a word on the wire (after close, or when cancelled)."""
        self._ending = True
        self._stop_relisten()
        for task in self._background:
            task.cancel()
        self._transport.abandon()


def _checked(check: Callable[[JSONObject], Outcome], result: JSONObject) -> Outcome:
    """The protocol's judgement of a tool result first, then the caller's check of its content."""
    outcome = judge_tool_result(result)
    return check(result) if outcome.ok else outcome
