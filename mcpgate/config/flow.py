"""What a virtual user does, as configured: the tool mix (``flow.tools``), the session's shape,
the held stream, and what a session discovers when it opens (``flow.discover``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from mcpgate.config.base import INT64_MAX, Duration, Model, ThinkTime
from mcpgate.config.steps import ExpectConfig, StepConfig
from mcpgate.protocol.transport import DEFAULT_STREAM_IDLE


class ToolConfig(Model):
    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)
    arguments: dict[str, Any] | Literal["auto"] = Field(
        default_factory=dict,
        description="Values may be Jinja templates ({{ randint(0, 999) }}); 'auto' builds them from the tool's "
        "inputSchema (read-only tools only, unless allow_writes)",
    )
    allow_writes: bool = Field(False, description="Allow arguments: auto on a tool not marked readOnlyHint")
    dataset: str | None = Field(None, description="Name of a dataset whose row is 'row' in templates")
    expect: ExpectConfig | None = Field(None, description="Checks of each answer: a wrong one fails as check_failed")


Discovery = Literal["tools", "resources", "resource_templates", "prompts"]


class FlowConfig(Model):
    tools_list: bool = Field(True, description="Call tools/list in each session, as real clients do")
    discover: list[Discovery] | Literal["auto", "seed", "none"] = Field(
        "auto",
        description="What each session lists when it opens: auto, as real clients do (tools, and resources and "
        "prompts when the server's capabilities offer them); seed (tools/list only); none; or a list of "
        "tools, resources, resource_templates, prompts",
    )
    think_time: ThinkTime | None = Field(None, description="Pause after each iteration, e.g. 0.5s..2s")
    calls_per_session: int | None = Field(
        None,
        ge=0,
        le=INT64_MAX,
        description="tools/call per session (default: 1 with session: per-iteration; no limit with per-vu)",
    )
    tools: list[ToolConfig] = Field(
        default_factory=list, description="Weighted mix; empty: every read-only tool with arguments: auto"
    )
    steps: list[StepConfig] = Field(
        default_factory=list, description="Ordered steps, the whole list once per iteration (instead of tools)"
    )
    session: Literal["per-iteration", "per-vu"] = Field(
        "per-iteration",
        description="per-iteration: a new MCP session each iteration; per-vu: one long session per VU, "
        "one tools/call per iteration, until calls_per_session or session_lifetime ends it",
    )
    session_lifetime: Duration | None = Field(
        None,
        description="per-vu: end a session this old at the next iteration (a session with no calls holds this long)",
    )
    listen: bool | Literal["auto"] = Field(
        "auto",
        description="Hold the standalone GET stream for the session's life: auto as the official clients do "
        "(Streamable HTTP sessions with a session id; never on 2026-07-28), true, or false",
    )
    require_calls: bool = Field(False, description="Fail the preflight (exit 103) when the run would call no tool")
    stream_idle_timeout: Duration = Field(
        DEFAULT_STREAM_IDLE,
        description="A held stream with no byte, not even a keepalive, for this long is stream_stalled; 0: off",
    )

    @field_validator("session_lifetime")
    @classmethod
    def _lifetime(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None:
            if info.data.get("session", "per-iteration") != "per-vu":
                raise ValueError("applies to session: per-vu only")
            if value <= 0:
                raise ValueError("must be more than 0")
        return value

    @field_validator("steps")
    @classmethod
    def _steps_or_tools(cls, value: list[StepConfig], info: ValidationInfo) -> list[StepConfig]:
        if value and info.data.get("tools"):
            raise ValueError("flow.tools and flow.steps are exclusive: give one of them")
        return value

    @property
    def calls(self) -> int | None:
        """tools/call per session: None for no limit (per-vu by default)."""
        if self.calls_per_session is not None:
            return self.calls_per_session
        return None if self.session == "per-vu" else 1
