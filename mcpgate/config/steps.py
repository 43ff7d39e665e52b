"""Multi-step flows as configured: ordered steps, each one MCP request (``flow.steps``), the values
they capture for later steps, the checks of their answers, and weighted named flows (``flows:``).

A step names exactly one action key; the rest of its keys say how the step runs. Values anywhere
may be templates; which names they see is the runtime's business (workload/steps.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from mcpgate.config.base import Duration, Model, ThinkTime

ACTIONS = (
    "tool",
    "list",
    "read",
    "subscribe",
    "unsubscribe",
    "prompt",
    "complete",
    "log_level",
    "ping",
    "method",
    "one_of",
)
MAX_REPEAT = 1000  # one step's turns in a row: an iteration stays bounded

Listable = Literal["tools", "resources", "resource_templates", "prompts"]
LogLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


class ExpectConfig(Model):
    """What a step's answer must say; values may be templates over ``args`` and ``vars``."""

    is_error: Literal[False] = Field(
        False, description="A tool result with isError: true already fails as tool_error; false is the only choice"
    )
    text_contains: str | None = Field(None, description="The text content contains this")
    text_equals: str | None = Field(None, description="The text content is exactly this")
    text_matches: str | None = Field(None, description="The text content matches this regular expression (search)")
    json_: dict[str, Any] = Field(
        default_factory=dict,
        alias="json",
        description="JSONPath over the result ($ is the JSON-RPC result) -> the value it must equal",
    )
    content_type: str | None = Field(None, description="Every content block has this type (and there is one)")

    @field_validator("json_")
    @classmethod
    def _paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            if not path.startswith("$"):
                raise ValueError(f"{path!r}: a JSONPath starts with $ (like $.structuredContent.id)")
        return value


class CompleteConfig(Model):
    """completion/complete: the prompt or resource template whose argument is completed."""

    prompt: str | None = None
    resource: str | None = Field(None, description="A resource template's uriTemplate")
    argument: dict[str, str] = Field(description="{name: ..., value: ...}: the argument being typed")

    @model_validator(mode="after")
    def _one_ref(self) -> CompleteConfig:
        if (self.prompt is None) == (self.resource is None):
            raise ValueError("give exactly one of prompt or resource")
        if set(self.argument) != {"name", "value"}:
            raise ValueError("argument takes name and value")
        return self


class StepConfig(Model):
    """One step: one action key, and how it runs."""

    tool: str | None = Field(None, min_length=1, description="tools/call this tool")
    list_: Listable | None = Field(
        None, alias="list", description="List tools, resources, resource_templates or prompts"
    )
    read: str | None = Field(None, min_length=1, description="resources/read this uri (a template)")
    subscribe: str | None = Field(None, min_length=1, description="resources/subscribe this uri")
    unsubscribe: str | None = Field(None, min_length=1, description="resources/unsubscribe this uri")
    prompt: str | None = Field(None, min_length=1, description="prompts/get this prompt (with arguments)")
    complete: CompleteConfig | None = Field(None, description="completion/complete")
    log_level: LogLevel | None = Field(None, description="logging/setLevel")
    ping: Literal[True] | None = Field(None, description="ping")
    method: str | None = Field(None, min_length=1, description="Any other client request, with params")
    one_of: list[StepConfig] | None = Field(None, min_length=1, description="A weighted choice of one step")
    arguments: dict[str, Any] | Literal["auto"] | None = Field(
        None, description="tool and prompt steps: the arguments (templates; 'auto' for read-only tools)"
    )
    allow_writes: bool = Field(False, description="Allow arguments: auto on a tool not marked readOnlyHint")
    params: dict[str, Any] | None = Field(None, description="method steps: the request's params (templates)")
    name: str | None = Field(None, min_length=1, description="The step's label: its name tag and its check's name")
    weight: float = Field(1.0, gt=0, allow_inf_nan=False, description="Inside one_of: this step's share")
    probability: float = Field(1.0, ge=0, le=1, description="The share of iterations this step runs in")
    repeat: int = Field(1, ge=1, le=MAX_REPEAT, description="Run the step this many times in a row")
    think_time: ThinkTime | None = Field(None, description="Pause after this step")
    timeout: Duration | None = Field(None, description="This request's time limit (the target's timeout otherwise)")
    cancel_after: Duration | None = Field(
        None,
        description="tool steps: give the call up after this long, as a user who stops it: the server is told "
        "(notifications/cancelled), the step counts in mcp_cancelled and is not a failure",
    )
    progress: bool = Field(False, description="tool steps: ask for progress notifications")
    task: bool = Field(False, description="tool steps: a task-augmented call when the server offers tasks")
    capture: dict[str, str] = Field(
        default_factory=dict, description="name -> JSONPath ($...) or template over the result: into vars"
    )
    expect: ExpectConfig | None = Field(None, description="Checks of the answer: a wrong one fails as check_failed")
    dataset: str | None = Field(None, description="Name of a dataset whose row is 'row' in templates")

    @model_validator(mode="after")
    def _one_action(self) -> StepConfig:
        given = [key for key in ACTIONS if getattr(self, "list_" if key == "list" else key) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"a step takes exactly one of {', '.join(ACTIONS)} (found: {found})")
        action = given[0]
        if self.arguments is not None and action not in ("tool", "prompt"):
            raise ValueError(f"arguments apply to tool and prompt steps, not {action}")
        if self.arguments == "auto" and action != "tool":
            raise ValueError("arguments: auto applies to tool steps only")
        if self.params is not None and action != "method":
            raise ValueError(f"params apply to method steps, not {action}")
        if action != "tool" and (self.progress or self.task or self.cancel_after is not None):
            raise ValueError("progress, task and cancel_after apply to tool steps only")
        self._check_cancel()
        if action == "one_of" and (self.capture or self.expect is not None or self.repeat != 1):
            raise ValueError("one_of takes weight, probability and think_time; capture, expect, repeat go on its steps")
        return self

    def _check_cancel(self) -> None:
        after = self.cancel_after
        if after is None:
            return
        if after <= 0:
            raise ValueError("cancel_after must be more than 0")
        if self.timeout is not None and after >= self.timeout:
            raise ValueError("cancel_after must be shorter than the step's timeout")
        if self.capture or self.expect is not None or self.task:
            raise ValueError("a step with cancel_after has no answer to capture from or check (and is no task)")

    @field_validator("capture")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not a name a template can use (letters, digits, _)")
        return value

    @property
    def action(self) -> str:
        return next(key for key in ACTIONS if getattr(self, "list_" if key == "list" else key) is not None)


class NamedFlowConfig(Model):
    """One of ``flows:``: a named list of steps, picked per iteration by weight."""

    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)
    steps: list[StepConfig] = Field(min_length=1)


def _exclusive(value: list[NamedFlowConfig], info: ValidationInfo) -> list[NamedFlowConfig]:
    flow = info.data.get("flow")
    if value and flow is not None and (flow.tools or flow.steps):
        raise ValueError("flows, flow.tools and flow.steps are exclusive: give one of them")
    names = [item.name for item in value]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two flows are named {name!r}")
    return value


Flows = Annotated[list[NamedFlowConfig], AfterValidator(_exclusive)]
