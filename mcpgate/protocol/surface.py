"""The client's side of MCP beyond tools: resources, prompts, completion, logging, ping, and any
method by name. Every method answers with an ``Answer`` whose step is tagged with what it acted
on (a resource's uri, a prompt's name) or the caller's ``label``, so the metrics can tell them apart.

Each result is judged for the shape its method promises (a ``resources`` array, a ``contents``
array, ``completion.values``...): a result of the wrong shape is a protocol error. The list
methods follow ``nextCursor`` to the last page, bounded as tools/list is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from mcpgate.protocol.jsonrpc import JSONObject
from mcpgate.protocol.judging import RESULT_ARRAYS, judge_shape
from mcpgate.protocol.outcome import OK, Kind, Outcome, shorten
from mcpgate.protocol.records import PLAIN, CallOptions
from mcpgate.protocol.session_exchange import Answer
from mcpgate.protocol.session_open import Opening

MAX_PAGES = 100  # pages of one list followed before the list counts as endless

# Methods 2026-07-28 removed (resources/subscribe gave way to subscriptions/listen; logging's level
# rides in _meta). They are still sent, since a server may keep them, and an answer of "no such
# method" says why.
MODERN_REMOVED = frozenset({"ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"})

Check = Callable[[JSONObject], Outcome]


class Surface(Opening):
    """Requests by method: the whole client surface, each recorded as a step."""

    async def request(
        self,
        method: str,
        params: JSONObject,
        *,
        name: str | None = None,
        judge: Check | None = None,
        options: CallOptions = PLAIN,
    ) -> Answer:
        """Any client request, recovered as every request is (a lost session re-opened once), and
        recorded; ``name`` tags its step (the prompt, the resource) for per-method metrics."""
        answer = await self._recovering(method, params, None, judge, None, options=options)
        answer.step.name = name
        if self.modern and method in MODERN_REMOVED and answer.outcome.kind is Kind.JSONRPC_ERROR:
            answer.step.note = f"2026-07-28 has no {method}: the server does not offer it"
        self.sink(answer.step)
        return answer

    async def list_resources(
        self, *, check: Check | None = None, label: str | None = None, options: CallOptions = PLAIN
    ) -> Answer:
        """resources/list, every page (nextCursor followed); the result holds all of them."""
        return await self._pages("resources/list", check, label, options)

    async def list_resource_templates(
        self, *, check: Check | None = None, label: str | None = None, options: CallOptions = PLAIN
    ) -> Answer:
        """resources/templates/list, every page."""
        return await self._pages("resources/templates/list", check, label, options)

    async def list_prompts(
        self, *, check: Check | None = None, label: str | None = None, options: CallOptions = PLAIN
    ) -> Answer:
        """prompts/list, every page."""
        return await self._pages("prompts/list", check, label, options)

    async def read_resource(
        self, uri: str, *, check: Check | None = None, label: str | None = None, options: CallOptions = PLAIN
    ) -> Answer:
        """resources/read of one uri (a template's uri filled in by the caller)."""
        return await self._shaped("resources/read", {"uri": uri}, label or uri, check, options)

    async def subscribe(
        self, uri: str, *, check: Check | None = None, label: str | None = None, options: CallOptions = PLAIN
    ) -> Answer:
        """resources/subscribe: the server's notifications/resources/updated are counted as they come."""
        return await self._shaped("resources/subscribe", {"uri": uri}, label or uri, check, options)

    async def unsubscribe(
        self, uri: str, *, check: Check | None = None, label: str | None = None, options: CallOptions = PLAIN
    ) -> Answer:
        return await self._shaped("resources/unsubscribe", {"uri": uri}, label or uri, check, options)

    async def get_prompt(
        self,
        name: str,
        arguments: Mapping[str, str] | None = None,
        *,
        check: Check | None = None,
        label: str | None = None,
        options: CallOptions = PLAIN,
    ) -> Answer:
        """prompts/get, with the prompt's arguments (strings, as the spec has them)."""
        params: JSONObject = {"name": name}
        if arguments:
            params["arguments"] = dict(arguments)
        return await self._shaped("prompts/get", params, label or name, check, options)

    async def complete(
        self,
        ref: Mapping[str, Any],
        argument: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        check: Check | None = None,
        label: str | None = None,
        options: CallOptions = PLAIN,
    ) -> Answer:
        """completion/complete for a prompt's or a resource template's argument: ``ref`` from
        ``prompt_ref``/``resource_ref``, ``argument`` {name, value}, ``context`` {arguments: {...}}."""
        params: JSONObject = {"ref": dict(ref), "argument": dict(argument)}
        if context:
            params["context"] = dict(context)
        target = ref.get("name") if ref.get("type") == "ref/prompt" else ref.get("uri")
        return await self._shaped("completion/complete", params, label or str(target), check, options)

    async def set_log_level(
        self, level: str, *, check: Check | None = None, label: str | None = None, options: CallOptions = PLAIN
    ) -> Answer:
        """logging/setLevel: the server's notifications/message are counted as they come."""
        return await self._shaped("logging/setLevel", {"level": level}, label or level, check, options)

    async def ping(
        self, *, check: Check | None = None, label: str | None = None, options: CallOptions = PLAIN
    ) -> Answer:
        return await self._shaped("ping", {}, label, check, options)

    async def raw(
        self,
        method: str,
        params: JSONObject | None = None,
        *,
        name: str | None = None,
        check: Check | None = None,
        options: CallOptions = PLAIN,
    ) -> Answer:
        """Any method by name, for what is newer than mcpgate: only the era's rules are judged.
        ``name`` tags the step (default: the method)."""
        return await self.request(method, params or {}, name=name or method, judge=check, options=options)

    async def _shaped(
        self, method: str, params: JSONObject, name: str | None, check: Check | None, options: CallOptions
    ) -> Answer:
        judge = partial(_judged, method, check)
        return await self.request(method, params, name=name, judge=judge, options=options)

    async def _pages(self, method: str, check: Check | None, label: str | None, options: CallOptions) -> Answer:
        """Every page of a list, bounded; the answer's result is the last page with all items in its array."""
        key = RESULT_ARRAYS[method]
        items: list[Any] = []
        seen: set[str] = set()
        params: JSONObject = {}
        judge = partial(_page_judged, method, seen, check)
        while True:
            answer = await self.request(method, params, name=label, judge=judge, options=options)
            if not answer.outcome.ok or answer.result is None:
                return answer
            items.extend(answer.result[key])
            cursor = answer.result.get("nextCursor")
            if cursor is None:
                answer.result = {**answer.result, key: items}
                return answer
            seen.add(cursor)
            params = {"cursor": cursor}


def _judged(method: str, check: Check | None, result: JSONObject) -> Outcome:
    """The shape the method promises first, then the caller's check of the content."""
    outcome = judge_shape(method, result)
    return check(result) if outcome.ok and check is not None else outcome


def _page_judged(method: str, seen: set[str], check: Check | None, result: JSONObject) -> Outcome:
    """A page: its method's shape, a cursor that moves on (bounded), then the caller's check of it."""
    outcome = _judged(method, check, result)
    if not outcome.ok:
        return outcome
    cursor = result.get("nextCursor")
    if cursor is not None:
        if not isinstance(cursor, str) or cursor in seen:
            return Outcome(Kind.PROTOCOL_ERROR, f"nextCursor {shorten(repr(cursor), 40)} repeats or is not a string")
        if len(seen) + 1 >= MAX_PAGES:
            return Outcome(Kind.PROTOCOL_ERROR, f"more than {MAX_PAGES} pages of {method}")
    return OK


def prompt_ref(name: str) -> JSONObject:
    """What completion/complete completes an argument of: a prompt."""
    return {"type": "ref/prompt", "name": name}


def resource_ref(uri_template: str) -> JSONObject:
    """What completion/complete completes an argument of: a resource template."""
    return {"type": "ref/resource", "uri": uri_template}
