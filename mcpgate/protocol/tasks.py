"""Task-augmented tools/call (2025-11-25 tasks): call now, fetch the result when the task is done.

Only when the server's capabilities offer ``tasks.requests.tools.call`` and the tool's
``execution.taskSupport`` allows it: the call answers with the task it created, ``tasks/get``
is polled at the server's ``pollInterval`` (bounded) until the task ends or asks for input,
and ``tasks/result`` brings the tool's result, which is the call's outcome. The whole span,
from the call to that result, is the step's ``task_duration``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from mcpgate.protocol.jsonrpc import JSONObject
from mcpgate.protocol.judging import judge_task_created, judge_task_status
from mcpgate.protocol.outcome import Kind, Outcome
from mcpgate.protocol.records import CallOptions, Step
from mcpgate.protocol.session_exchange import Answer
from mcpgate.protocol.surface import Check, Surface

TERMINAL = frozenset({"completed", "failed", "cancelled"})
MIN_POLL = 0.05  # seconds: a server's pollInterval is obeyed within these bounds
MAX_POLL = 5.0
DEFAULT_POLL = 1.0  # when the server suggests none
MAX_POLLS = 1000
TASK_LIMIT = 300.0  # seconds a task may run when the call sets no timeout of its own


class TaskCalls(Surface):
    """tools/call as a task, when the server and the tool allow it."""

    def task_refusal(self, tool: str) -> str | None:
        """Why a task-augmented call of ``tool`` would not be allowed (None: it is)."""
        caps = self.identity.capabilities if self.identity is not None else None
        if _dig(caps, "tasks", "requests", "tools", "call") is None:
            return "the server offers no tasks for tools/call: a plain call"
        info = self.tools.get(tool)
        if info is not None and info.task_support == "forbidden":
            return f"tool {tool} does not support tasks (execution.taskSupport): a plain call"
        return None

    async def _task_call(
        self, params: JSONObject, tool: str, judge: Check, options: CallOptions, label: str | None = None
    ) -> Answer:
        """Every step of the task is tagged ``label`` (default: the tool)."""
        t0 = time.perf_counter()
        tag = label or tool
        plain = replace(options, task=False, timeout=None)
        augmented = {**params, "task": {}}
        created = await self._recovering("tools/call", augmented, tool, judge_task_created, None, options=plain)
        self._tag(created, tag)
        if not created.outcome.ok or created.result is None:
            return created
        task: dict[str, Any] = created.result["task"]
        task_id = task["taskId"]
        limit = TASK_LIMIT if options.timeout is None else options.timeout
        polled = await self._poll(task_id, tool, tag, task, t0=t0, limit=limit)
        if polled is not None:
            return polled
        answer = await self._recovering("tasks/result", {"taskId": task_id}, tool, judge, None)
        answer.step.task_duration = time.perf_counter() - t0
        self._tag(answer, tag)
        return answer

    async def _poll(
        self, task_id: str, tool: str, tag: str, task: dict[str, Any], *, t0: float, limit: float
    ) -> Answer | None:
        """tasks/get until the task ends or asks for input (None), or the answer that ended the wait."""
        until = t0 + limit
        status = task.get("status")
        for _ in range(MAX_POLLS):
            if status in TERMINAL or status == "input_required":
                return None  # input_required: tasks/result delivers the server's requests, then the result
            interval = task.get("pollInterval")
            wait = interval / 1000.0 if isinstance(interval, int | float) else DEFAULT_POLL
            wait = min(max(wait, MIN_POLL), MAX_POLL)
            if time.perf_counter() + wait > until:
                break
            await asyncio.sleep(wait)
            got = await self._recovering("tasks/get", {"taskId": task_id}, tool, judge_task_status, None)
            self._tag(got, tag)
            if not got.outcome.ok or got.result is None:
                return got
            task = got.result
            status = task["status"]
        return await self._give_up(task_id, tool, tag, t0)

    async def _give_up(self, task_id: str, tool: str, tag: str, t0: float) -> Answer:
        """The task outlived the call's limit: cancelled (tasks/cancel), and the call timed out."""
        cancel = await self._recovering("tasks/cancel", {"taskId": task_id}, tool, None, None)
        cancel.step.cancelled = True
        self._tag(cancel, tag)
        outcome = Outcome(Kind.TIMEOUT, "the task did not complete within the call's limit (tasks/cancel sent)")
        elapsed = time.perf_counter() - t0
        step = Step("tasks/result", outcome, elapsed, tool=tool, note="not fetched: the task was cancelled", wire=False)
        step.task_duration = elapsed
        self._tag(Answer(outcome, None, step), tag)
        return Answer(outcome, None, step)

    def _tag(self, answer: Answer, tag: str) -> None:
        answer.step.name = tag
        self.sink(answer.step)


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
