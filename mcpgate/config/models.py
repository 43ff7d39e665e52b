"""The configuration schema (``mcpgate schema`` prints it as JSON Schema).

Keys are snake_case; the scenario keys k6 users know in camelCase
(``startVUs``, ``gracefulRampDown``, ``preAllocatedVUs``...) are accepted too.
Unknown keys are errors. Durations are seconds once validated.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    model_validator,
)

from mcpgate.config.auth import AuthConfig
from mcpgate.config.base import INT64_MAX, MAX_VUS, Duration, Model
from mcpgate.config.client import ClientConfig
from mcpgate.config.flow import FlowConfig
from mcpgate.config.profiles import PROFILES
from mcpgate.config.steps import Flows
from mcpgate.protocol.http import DEFAULT_MAX_RESPONSE_BYTES
from mcpgate.protocol.versions import KNOWN_VERSIONS
from mcpgate.support.durations import format_duration

Transport = Literal["auto", "streamable-http", "sse"]
Version = Literal["auto", "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]
assert set(Version.__args__[1:]) == set(KNOWN_VERSIONS)  # type: ignore[attr-defined]


class TargetConfig(Model):
    url: str = Field(description="The MCP endpoint, e.g. https://mcp-staging.example.com/mcp")
    transport: Transport = "auto"
    protocol_version: Version = "auto"
    expect_protocol_version: Version | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers on every request")
    bearer_token: str | None = Field(None, description="Sent as 'Authorization: Bearer'; use ${ENV_VAR}")
    auth: AuthConfig | None = Field(None, description="A bearer token, or OAuth access tokens (see the README)")
    timeout: Duration = Field(10.0, description="Per request, until its JSON-RPC response is in")
    connect_timeout: Duration = 5.0
    cookies: bool = Field(True, description="Keep each session's cookies (a load balancer's sticky-session cookie)")
    max_response_bytes: int = Field(DEFAULT_MAX_RESPONSE_BYTES, ge=1024, le=INT64_MAX)
    insecure: bool = Field(False, description="Do not verify TLS certificates")
    ca_file: str | None = Field(None, description="A CA bundle (PEM) to trust as well, for a private CA")
    client_cert: str | None = Field(None, description="A client certificate (PEM) for mTLS; may hold the key too")
    client_key: str | None = Field(None, description="The client certificate's private key (PEM)")
    proxy: str | None = Field(None, description="http://[user:password@]host:port; wins over HTTPS_PROXY/HTTP_PROXY")
    no_proxy: str | None = Field(None, description="Hosts reached directly, as NO_PROXY ('*': no proxy at all)")


class Stage(Model):
    duration: Duration
    target: float = Field(ge=0, allow_inf_nan=False)


class _Scenario(Model):
    start_time: Duration = Field(0.0, validation_alias=AliasChoices("start_time", "startTime"))
    graceful_stop: Duration = Field(30.0, validation_alias=AliasChoices("graceful_stop", "gracefulStop"))


def _positive(value: float, what: str) -> float:
    if value <= 0:
        raise ValueError(f"{what} must be more than 0")
    return value


class ConstantVus(_Scenario):
    executor: Literal["constant-vus"]
    vus: int = Field(1, ge=1, le=MAX_VUS)
    duration: Duration

    @model_validator(mode="after")
    def _check(self) -> ConstantVus:
        _positive(self.duration, "duration")
        return self


class RampingVus(_Scenario):
    executor: Literal["ramping-vus"]
    start_vus: int = Field(1, ge=0, le=MAX_VUS, validation_alias=AliasChoices("start_vus", "startVUs"))
    stages: list[Stage] = Field(min_length=1)
    graceful_ramp_down: Duration = Field(30.0, validation_alias=AliasChoices("graceful_ramp_down", "gracefulRampDown"))

    @model_validator(mode="after")
    def _check(self) -> RampingVus:
        for index, stage in enumerate(self.stages):
            if stage.target != int(stage.target):
                raise ValueError(f"stages[{index}].target is a VU count: a whole number, not {stage.target:g}")
            if stage.target > MAX_VUS:
                raise ValueError(f"stages[{index}].target is a VU count: at most {MAX_VUS}, not {stage.target:g}")
        return self


class _ArrivalRate(_Scenario):
    time_unit: Duration = Field(1.0, validation_alias=AliasChoices("time_unit", "timeUnit"))
    pre_allocated_vus: int = Field(
        ge=1, le=MAX_VUS, validation_alias=AliasChoices("pre_allocated_vus", "preAllocatedVUs")
    )
    max_vus: int | None = Field(None, ge=1, le=MAX_VUS, validation_alias=AliasChoices("max_vus", "maxVUs"))

    def _check_arrival(self) -> None:
        _positive(self.time_unit, "time_unit")
        if self.max_vus is not None and self.max_vus < self.pre_allocated_vus:
            raise ValueError(f"max_vus ({self.max_vus}) is below pre_allocated_vus ({self.pre_allocated_vus})")


class ConstantArrivalRate(_ArrivalRate):
    executor: Literal["constant-arrival-rate"]
    rate: float = Field(gt=0, allow_inf_nan=False, description="Iterations per time_unit")
    duration: Duration

    @model_validator(mode="after")
    def _check(self) -> ConstantArrivalRate:
        self._check_arrival()
        _positive(self.duration, "duration")
        return self


class RampingArrivalRate(_ArrivalRate):
    executor: Literal["ramping-arrival-rate"]
    start_rate: float = Field(0.0, ge=0, allow_inf_nan=False, validation_alias=AliasChoices("start_rate", "startRate"))
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> RampingArrivalRate:
        self._check_arrival()
        return self


Scenario = Annotated[
    ConstantVus | RampingVus | ConstantArrivalRate | RampingArrivalRate, Field(discriminator="executor")
]


class ThresholdItem(Model):
    threshold: str
    abort_on_fail: bool = Field(False, validation_alias=AliasChoices("abort_on_fail", "abortOnFail"))
    delay_abort_eval: Duration = Field(0.0, validation_alias=AliasChoices("delay_abort_eval", "delayAbortEval"))
    allow_no_data: bool = Field(False, description="Pass when the metric has no samples (default: fail as no data)")

    @model_validator(mode="after")
    def _check(self) -> ThresholdItem:
        if self.delay_abort_eval and not self.abort_on_fail:
            raise ValueError("delay_abort_eval only applies with abort_on_fail: true")
        return self


class DatasetConfig(Model):
    file: str = Field(description="Path to a JSON array, JSONL or CSV file, relative to the config file")
    format: Literal["auto", "json", "jsonl", "csv"] = "auto"
    order: Literal["vu", "sequential", "random"] = Field(
        "vu",
        description="vu: row by VU and iteration, no two VUs share a row until it wraps; "
        "sequential: the next row for each call; random: any row",
    )


ScenarioName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


ProfileName = Literal["smoke", "load", "spike", "soak", "breakpoint"]
assert set(ProfileName.__args__) == set(PROFILES)  # type: ignore[attr-defined]

MAX_STEPS = 1000  # breakpoint steps in one search
MIN_STEP_SECONDS = 1.0  # a step shorter than this is too short to measure


def _fraction(value: Any) -> Any:
    """``0.05`` or ``"5%"``: a fraction from 0 to 1."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"expected a fraction like 0.01 or a percentage like 1%, got {value!r}") from None
    return value


FractionOrPercent = Annotated[float, BeforeValidator(_fraction), Field(ge=0, le=1, allow_inf_nan=False)]


class BreakpointConfig(Model):
    """The breakpoint search (``profile: breakpoint``): a load that climbs step by step until the server breaks.

    Each step holds one level (an arrival rate in iterations per second, or a number of VUs)
    for ``step_duration`` and is judged on its own samples: the thresholds, the error limit
    and, for an arrival rate, dropped iterations. The first step that fails ends the search.
    """

    executor: Literal["arrival", "vus"] = Field(
        "arrival", description="arrival: step an arrival rate (iterations/s, open model); vus: step the VUs"
    )
    start: float = Field(10.0, gt=0, allow_inf_nan=False, description="The first step's level")
    step: float = Field(10.0, gt=0, allow_inf_nan=False, description="How much each step adds")
    max: float = Field(200.0, gt=0, allow_inf_nan=False, description="The last step's level: the search stops there")
    step_duration: Duration = Field(30.0, description="How long each step holds its level")
    max_error_rate: FractionOrPercent = Field(
        0.01, description="A step whose failed requests or failed MCP steps pass this fraction (or 1%) breaks"
    )
    max_dropped_rate: FractionOrPercent = Field(
        0.0, description="arrival: a step that could not start more than this fraction of its iterations breaks"
    )
    pre_allocated_vus: int | None = Field(
        None,
        ge=1,
        le=MAX_VUS,
        validation_alias=AliasChoices("pre_allocated_vus", "preAllocatedVUs"),
        description="arrival: VUs made ready before the start (default: the first step's rate)",
    )
    max_vus: int | None = Field(
        None,
        ge=1,
        le=MAX_VUS,
        validation_alias=AliasChoices("max_vus", "maxVUs"),
        description="arrival: the most VUs that may serve the rate (default: 10 x max, at most 100000)",
    )
    min_breaking_point: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="A capacity gate: the run fails (exit 99) when the breaking point is below this level",
    )

    @model_validator(mode="after")
    def _check(self) -> BreakpointConfig:
        if self.max < self.start:
            raise ValueError(f"max ({self.max:g}) is below start ({self.start:g})")
        if self.step_duration < MIN_STEP_SECONDS:
            shown = format_duration(self.step_duration)
            raise ValueError(f"step_duration must be at least {MIN_STEP_SECONDS:g}s, got {shown}")
        steps = (self.max - self.start) / self.step + 1  # a float: 1e308 / 1e-300 is inf, not an error
        if not steps <= MAX_STEPS + 1e-9:
            count = f"{math.ceil(steps - 1e-9)} steps" if math.isfinite(steps) else "too many steps"
            raise ValueError(
                f"{self.start:g} to {self.max:g} in steps of {self.step:g} is {count} (at most {MAX_STEPS})"
            )
        if self.executor == "vus":
            for name in ("start", "step", "max"):
                value = getattr(self, name)
                if value != int(value):
                    raise ValueError(f"{name} is a VU count with executor: vus: a whole number, not {value:g}")
            if self.max > MAX_VUS:
                raise ValueError(f"max is a VU count with executor: vus: at most {MAX_VUS}, not {self.max:g}")
            for name in ("pre_allocated_vus", "max_vus", "max_dropped_rate"):
                if name in self.model_fields_set:
                    raise ValueError(f"{name} only applies to executor: arrival")
        elif self.max_vus is not None and self.pre_allocated_vus is not None and self.max_vus < self.pre_allocated_vus:
            raise ValueError(f"max_vus ({self.max_vus}) is below pre_allocated_vus ({self.pre_allocated_vus})")
        if self.min_breaking_point is not None and self.min_breaking_point > self.max:
            raise ValueError(
                f"min_breaking_point ({self.min_breaking_point:g}) is above max ({self.max:g}): "
                "the search would never reach it"
            )
        return self

    def levels(self) -> tuple[float, ...]:
        """Each step's level: start, start + step, ... and max itself as the last when the steps miss it."""
        count = math.floor((self.max - self.start) / self.step + 1e-9) + 1
        levels = [_tidy(self.start + i * self.step) for i in range(count)]
        if levels[-1] < self.max and not math.isclose(levels[-1], self.max, rel_tol=1e-9):
            levels.append(self.max)
        return tuple(min(level, self.max) for level in levels)


def _tidy(value: float) -> float:
    """0.1 + 2 * 0.1 is 0.30000000000000004: levels are shown, so keep them as written."""
    return float(f"{value:.12g}")


class Config(Model):
    target: TargetConfig
    flow: FlowConfig = Field(default_factory=FlowConfig)
    client: ClientConfig = Field(default_factory=ClientConfig, description="Answers to the server's requests")
    flows: Flows = Field(default_factory=list, description="Weighted named flows of steps, one picked per iteration")
    scenarios: dict[ScenarioName, Scenario] = Field(default_factory=dict)
    thresholds: dict[str, list[str | ThresholdItem]] = Field(default_factory=dict)
    datasets: dict[str, DatasetConfig] = Field(default_factory=dict)
    seed: int | None = Field(
        None, ge=-INT64_MAX - 1, le=INT64_MAX, description="Seed for the random choices, for repeatable runs"
    )
    profile: ProfileName | None = Field(
        None, description="Run this profile (its scenarios, and its thresholds when none are set); --profile wins"
    )
    breakpoint: BreakpointConfig = Field(
        default_factory=BreakpointConfig, description="The breakpoint search's steps (profile: breakpoint)"
    )
