"""``client:``: how mcpgate answers what the server asks of it, as a real client would: sampling
(an LLM's answer, canned or templated, after a delay that models the LLM's latency), elicitation
(the user accepts with content, declines or cancels) and roots. Only what is set is declared."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from mcpgate.config.base import Duration, Model, ThinkTime, duration_seconds

MAX_DELAY = 600.0  # seconds: no configured answer waits longer, whatever its distribution draws


class LognormalDelay(Model):
    """An LLM's latency: most answers near the median, a long tail up to the p95 and past it."""

    distribution: Literal["lognormal"]
    median: Duration
    p95: Duration
    max: Duration | None = Field(None, description="No delay longer than this (default: four times the p95)")

    @model_validator(mode="after")
    def _check(self) -> LognormalDelay:
        if self.median <= 0:
            raise ValueError("median must be more than 0")
        if self.p95 < self.median:
            raise ValueError("p95 must be at least the median")
        if self.max is not None and self.max < self.median:
            raise ValueError("max must be at least the median")
        if self.bound > MAX_DELAY:
            raise ValueError(f"delays are bounded at {MAX_DELAY:g}s; set a smaller max")
        return self

    @property
    def sigma(self) -> float:
        return math.log(self.p95 / self.median) / 1.6448536269514722  # the normal's 95th percentile

    @property
    def bound(self) -> float:
        return self.max if self.max is not None else 4 * self.p95


def _delay_kind(value: Any) -> str:
    lognormal = isinstance(value, LognormalDelay) or (isinstance(value, dict) and "distribution" in value)
    return "lognormal" if lognormal else "uniform"


def _uniform_text(value: Any) -> Any:
    """``300ms..1.5s`` or one duration, checked here so its error names the key itself."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    low, _, high = value.partition("..") if isinstance(value, str) else (value, "", "")
    low_s = duration_seconds(low.strip() if isinstance(low, str) else low)
    high_s = duration_seconds(high.strip()) if high else low_s
    if low_s > high_s:
        raise ValueError("the range's low end is larger than its high end")
    return {"min": low_s, "max": high_s}


Delay = Annotated[
    Annotated[ThinkTime, Tag("uniform")] | Annotated[LognormalDelay, Tag("lognormal")],
    Discriminator(_delay_kind),
    BeforeValidator(_uniform_text),
]


class SamplingConfig(Model):
    text: str = Field(
        "mcpgate sampled answer",
        description="The answer's text; a template over request (request.messages, request.systemPrompt, ...)",
    )
    model: str = "mcpgate-sampler"
    stop_reason: str = "endTurn"
    delay: Delay | None = Field(
        None, description="Wait before answering: 300ms..1.5s (uniform) or {distribution: lognormal, median, p95}"
    )

    @field_validator("delay")
    @classmethod
    def _bounded(cls, value: ThinkTime | LognormalDelay | None) -> ThinkTime | LognormalDelay | None:
        if isinstance(value, ThinkTime) and value.max > MAX_DELAY:
            raise ValueError(f"delays are bounded at {MAX_DELAY:g}s")
        return value


class ElicitationConfig(Model):
    action: Literal["accept", "decline", "cancel"] = "accept"
    content: dict[str, Any] = Field(
        default_factory=dict, description="What the user enters (accept only); values may be templates over request"
    )
    delay: Delay | None = Field(None, description="Wait before answering, as sampling's")

    @model_validator(mode="after")
    def _content_on_accept(self) -> ElicitationConfig:
        if self.content and self.action != "accept":
            raise ValueError(f"content goes only with action accept, not {self.action}")
        return self


class RootConfig(Model):
    uri: str = Field(min_length=1, description="e.g. file:///srv/project")
    name: str | None = None

    @field_validator("uri")
    @classmethod
    def _has_scheme(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a URI with a scheme, e.g. file:///srv/project")
        return value


class ClientConfig(Model):
    sampling: SamplingConfig | None = Field(None, description="Answer sampling/createMessage (declares sampling)")
    elicitation: ElicitationConfig | None = Field(None, description="Answer elicitation/create (declares elicitation)")
    roots: list[RootConfig] | None = Field(None, description="Answer roots/list with these (declares roots)")

    @property
    def configured(self) -> bool:
        return self.sampling is not None or self.elicitation is not None or self.roots is not None
