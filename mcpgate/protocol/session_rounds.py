"""2026-07-28's way of asking the client: a result with ``resultType: "input_required"`` holds
the server's requests (``inputRequests``, by key) and an opaque ``requestState``; the client
answers them and sends the same request again with ``inputResponses`` (same keys) and the
``requestState``, until the result is complete. Bounded in rounds, and measured as one call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from mcpgate.protocol.client_side import MAX_INPUT_REQUESTS, MAX_INPUT_ROUNDS, AnswerError, answers
from mcpgate.protocol.jsonrpc import JSONObject, check_response, encode_request
from mcpgate.protocol.outcome import Kind, fail, shorten
from mcpgate.protocol.session_replies import ServerMessages
from mcpgate.protocol.transport import Reply

INPUT_REQUIRED = "input_required"


class InputRounds(ServerMessages):
    """The rounds of one request whose result asks for input."""

    async def _input_rounds(
        self,
        method: str,
        params: JSONObject,
        headers: Mapping[str, str] | None,
        result: JSONObject,
        reply: Reply,
        *,
        deadline: float,
    ) -> tuple[JSONObject, Reply]:
        """The last round's result and reply. One the client cannot answer, or past the last
        round, is returned as it came: the era's judgement says why it is not a result."""
        for _ in range(MAX_INPUT_ROUNDS):
            if result.get("resultType") != INPUT_REQUIRED:
                break
            asked, state = result.get("inputRequests"), result.get("requestState")
            responses = await self._fulfil(asked)
            if responses is None:
                break
            retry: JSONObject = dict(params)
            if responses:
                retry["inputResponses"] = responses
            if state is not None:
                retry["requestState"] = state
            request_id = self._ids()
            body = encode_request(request_id, method, retry)
            reply = await self._transport.request(request_id, body, headers, deadline)
            result = check_response(reply.message, request_id, http_status=reply.http_status)
        return result, reply

    async def _fulfil(self, asked: object) -> JSONObject | None:
        """Our answers by the server's keys, made at once as a client with several questions
        would; None when one of them asks for what we declared no capability for."""
        if asked is None:
            return {}
        if not isinstance(asked, dict) or len(asked) > MAX_INPUT_REQUESTS:
            raise fail(Kind.PROTOCOL_ERROR, f"inputRequests is not a map of at most {MAX_INPUT_REQUESTS} requests")
        wanted: list[tuple[str, str, JSONObject]] = []
        for key, entry in asked.items():
            method = entry.get("method") if isinstance(entry, dict) else None
            self._count_server_message(method, True)
            if not answers(self.target.client, method):
                return None
            params = entry.get("params")
            wanted.append((key, str(method), params if isinstance(params, dict) else {}))
        made = await asyncio.gather(*(self._timed_answer(method, params) for _, method, params in wanted))
        return {key: result for (key, _, _), result in zip(wanted, made, strict=True)}

    async def _timed_answer(self, method: str, params: JSONObject) -> JSONObject:
        t0 = time.perf_counter()
        answer = await self._client_answer(method, params)
        self.meter.server_request_answered(method, time.perf_counter() - t0)
        if isinstance(answer, AnswerError):
            raise fail(Kind.PROTOCOL_ERROR, shorten(answer.message))  # it names the method and the reason
        return answer
