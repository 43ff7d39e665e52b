"""What every part of the configuration schema is built from: the base model, durations, think time."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from mcpgate.support.durations import format_duration, parse_duration


def duration_seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration like 500ms, 30s, 2m or 1h30m, got {value!r}")
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(duration_seconds),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "examples": ["500ms", "30s", "2m", "1h30m"]}),
]


INT64_MAX = 2**63 - 1  # counts and sizes are written to JSON (results, the config digest) as 64-bit integers
MAX_VUS = 100_000  # far past what one machine runs; a ramp is planned one VU at a time


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ThinkTime(Model):
    """Uniform between min and max; written ``0.5s..2s``, or one duration."""

    min: float = 0.0
    max: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str) and ".." in value:
            low, _, high = value.partition("..")
            value = {"min": duration_seconds(low.strip()), "max": duration_seconds(high.strip())}
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            seconds = duration_seconds(value)
            value = {"min": seconds, "max": seconds}
        if isinstance(value, dict):
            value = {k: duration_seconds(v) if k in ("min", "max") else v for k, v in value.items()}
            if value.get("min", 0) > value.get("max", 0):
                raise ValueError("think time min is larger than max")
        return value

    def __str__(self) -> str:
        if self.min == self.max:
            return format_duration(self.min)
        return f"{format_duration(self.min)}..{format_duration(self.max)}"
