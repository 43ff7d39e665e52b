"""What a session lists: on open (``flow.discover``), as real clients do, and in ``list:`` steps.

``auto`` lists tools, and resources and prompts when the session's server offers them in its
capabilities (each session reads its own server's answer, as a client does); ``seed`` lists tools
only, as mcpgate did before flows had steps; ``none`` lists nothing. ``tools_list: false`` always
means no tools/list. Lists follow ``nextCursor`` to the last page, a bounded number of pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Final

from mcpgate.config.flow import FlowConfig
from mcpgate.protocol.jsonrpc import JSONObject
from mcpgate.protocol.judging import judge_shape
from mcpgate.protocol.outcome import Outcome
from mcpgate.protocol.session import McpSession
from mcpgate.protocol.session_exchange import Answer

MAX_PAGES: Final = 100
LIST_METHODS: Final = {
    "tools": "tools/list",
    "resources": "resources/list",
    "resource_templates": "resources/templates/list",
    "prompts": "prompts/list",
}
_CAPABILITY: Final = {"resources": "resources", "resource_templates": "resources", "prompts": "prompts"}
AUTO: Final = ("tools", "resources", "prompts")

Judge = Callable[[JSONObject], Outcome]


def discovery_of(flow: FlowConfig) -> tuple[tuple[str, ...], bool]:
    """(the kinds listed, whether each is listed only when the server offers it)."""
    mode = flow.discover
    if mode == "none":
        kinds: tuple[str, ...] = ()
    elif mode == "seed":
        kinds = ("tools",)
    elif mode == "auto":
        kinds = AUTO
    else:
        kinds = tuple(dict.fromkeys(mode))
    if not flow.tools_list:
        kinds = tuple(kind for kind in kinds if kind != "tools")
    return kinds, mode == "auto"


async def discover(session: McpSession, kinds: Sequence[str], offered_only: bool) -> None:
    """List what the flow says on a session just opened (each list recorded as its own steps)."""
    caps = session.identity.capabilities if session.identity is not None else None
    for kind in kinds:
        if kind == "tools":
            await session.list_tools()
        elif not offered_only or (caps is not None and _CAPABILITY[kind] in caps):
            await list_all(session, kind)


async def list_all(session: McpSession, kind: str, first: Judge | None = None) -> Answer:
    """One kind listed to its last page, each page judged for its method's shape; ``first`` judges
    the first page too (a step's checks and captures read what a client shows first)."""
    method = LIST_METHODS[kind]
    seen: set[str] = set()
    answer = await session.request(method, {}, judge=partial(shaped, method, first))
    while answer.outcome.ok and answer.result is not None and len(seen) < MAX_PAGES:
        cursor = answer.result.get("nextCursor")
        if not isinstance(cursor, str) or cursor in seen:
            break
        seen.add(cursor)
        answer = await session.request(method, {"cursor": cursor}, judge=partial(shaped, method, None))
    return answer


def shaped(method: str, then: Judge | None, result: JSONObject) -> Outcome:
    """The shape the method promises (a resources array, completion.values...), then ``then``."""
    outcome = judge_shape(method, result)
    return then(result) if outcome.ok and then is not None else outcome
