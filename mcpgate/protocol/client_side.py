"""The client's side of a session: what it answers when the server asks (sampling, elicitation,
roots), and the capabilities it declares for exactly those. The protocol layer only calls this
interface; what the answers hold is configured above it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mcpgate.protocol.jsonrpc import JSONObject

SAMPLING = "sampling/createMessage"
ELICITATION = "elicitation/create"
ROOTS = "roots/list"
CAPABILITY_OF = {SAMPLING: "sampling", ELICITATION: "elicitation", ROOTS: "roots"}

MAX_INPUT_ROUNDS = 8  # 2026-07-28: a request sent again with our answers at most this often
MAX_INPUT_REQUESTS = 16  # server requests answered in one input_required round


@dataclass(frozen=True, slots=True)
class AnswerError:
    """A JSON-RPC error to send instead of a result."""

    code: int
    message: str


class ClientAnswers(Protocol):
    """What a session asks of the client it plays."""

    def capabilities(self) -> JSONObject:
        """The client capabilities to declare: one entry per configured answer, nothing else."""
        ...

    async def answer(self, method: str, params: JSONObject) -> JSONObject | AnswerError:
        """The result for one server request (its delay waited out), or the error to send."""
        ...


def declared(client: ClientAnswers | None) -> JSONObject:
    return {} if client is None else client.capabilities()


def answers(client: ClientAnswers | None, method: object) -> bool:
    """``client`` declared the capability this server request needs."""
    if client is None or not isinstance(method, str):
        return False
    capability = CAPABILITY_OF.get(method)
    return capability is not None and capability in client.capabilities()
