"""The client mcpgate plays, as ``client:`` configures it: sampling answered with a templated
text after a delay drawn like an LLM's latency, elicitation accepted (with templated content),
declined or cancelled, and a list of roots. Templates are compiled once, when the plan is built;
each answer renders over the server's request (``request``)."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

from mcpgate.config.base import ThinkTime
from mcpgate.config.client import ClientConfig, ElicitationConfig, LognormalDelay, SamplingConfig
from mcpgate.protocol.client_side import ELICITATION, ROOTS, SAMPLING, AnswerError
from mcpgate.protocol.jsonrpc import JSONObject
from mcpgate.workload.templates import ArgumentTemplate, TemplateError, render_over


class ConfiguredAnswers:
    """``ClientAnswers`` from the config; pickled as its config, and compiled again where it lands
    (a worker process), since compiled templates do not pickle."""

    def __init__(self, config: ClientConfig, seed: int | None = None) -> None:
        self.config, self.seed = config, seed
        # The answers' own stream: delays drawn here never shift the VUs' random choices.
        self._rng = random.Random(None if seed is None else f"{seed}:client")
        caps: JSONObject = {}
        self._text: ArgumentTemplate | None = None
        self._content: ArgumentTemplate | None = None
        if config.sampling is not None:
            caps["sampling"] = {}
            self._text = ArgumentTemplate({"text": config.sampling.text}, "client.sampling")
        if config.elicitation is not None:
            caps["elicitation"] = {}
            self._content = ArgumentTemplate(config.elicitation.content, "client.elicitation.content")
        self._roots: JSONObject = {}
        if config.roots is not None:
            caps["roots"] = {}
            self._roots = {
                "roots": [{"uri": r.uri, **({"name": r.name} if r.name is not None else {})} for r in config.roots]
            }
        self._caps = caps

    def __reduce__(self) -> tuple[Any, ...]:
        return (ConfiguredAnswers, (self.config, self.seed))

    def capabilities(self) -> JSONObject:
        return self._caps

    async def answer(self, method: str, params: JSONObject) -> JSONObject | AnswerError:
        try:
            if method == SAMPLING and self.config.sampling is not None:
                return await self._sample(self.config.sampling, params)
            if method == ELICITATION and self.config.elicitation is not None:
                return await self._elicit(self.config.elicitation, params)
            if method == ROOTS and self.config.roots is not None:
                return self._roots
        except TemplateError as exc:
            return AnswerError(-32603, f"mcpgate could not answer {method}: {exc}")
        return AnswerError(-32601, f"mcpgate does not handle {method}")

    async def _sample(self, sampling: SamplingConfig, params: JSONObject) -> JSONObject:
        await self._wait(sampling.delay)
        assert self._text is not None
        text = render_over(self._text, {"request": params}, self._rng)["text"]
        content = {"type": "text", "text": str(text)}
        return {"role": "assistant", "content": content, "model": sampling.model, "stopReason": sampling.stop_reason}

    async def _elicit(self, elicitation: ElicitationConfig, params: JSONObject) -> JSONObject:
        await self._wait(elicitation.delay)
        if elicitation.action != "accept" or params.get("mode") == "url":
            return {"action": elicitation.action}  # a URL elicitation is done in the browser: no content
        assert self._content is not None
        return {"action": "accept", "content": render_over(self._content, {"request": params}, self._rng)}

    async def _wait(self, delay: ThinkTime | LognormalDelay | None) -> None:
        seconds = draw(delay, self._rng)
        if seconds > 0:
            await asyncio.sleep(seconds)


def draw(delay: ThinkTime | LognormalDelay | None, rng: random.Random) -> float:
    """One delay in seconds: uniform over the range, or lognormal cut at its bound."""
    if delay is None:
        return 0.0
    if isinstance(delay, LognormalDelay):
        return min(rng.lognormvariate(math.log(delay.median), delay.sigma), delay.bound)
    return delay.min if delay.min == delay.max else rng.uniform(delay.min, delay.max)


def client_answers(config: ClientConfig, seed: int | None = None) -> ConfiguredAnswers | None:
    """The answers a run's sessions give, or None when ``client:`` sets none (nothing declared)."""
    return ConfiguredAnswers(config, seed) if config.configured else None
