"""What each MCP result must hold, judged: a result that parses as JSON-RPC can still be
wrong for its method (no protocolVersion, no tools array, a resultType we cannot act on),
and the session counts that as a protocol error, not a success."""

from __future__ import annotations

from typing import Any

from mcpgate.protocol import modern
from mcpgate.protocol.client_side import MAX_INPUT_ROUNDS, ClientAnswers, answers
from mcpgate.protocol.jsonrpc import JSONObject
from mcpgate.protocol.outcome import OK, Kind, Outcome, shorten
from mcpgate.protocol.records import Target, ToolInfo
from mcpgate.protocol.versions import HANDSHAKE_VERSIONS


def judge_era(modern_era: bool, method: str, result: JSONObject, client: ClientAnswers | None = None) -> Outcome:
    """From 2026-07-28 every result says whether it is complete; before, nothing to check.
    An ``input_required`` result still here is one the client's rounds could not complete."""
    if not modern_era:
        return OK
    kind = result.get("resultType")
    if kind == "complete":
        return OK
    if kind is None:
        return Outcome(Kind.PROTOCOL_ERROR, "result has no resultType (required from 2026-07-28)")
    if kind == "input_required":
        return _input_still_required(result, client)
    return Outcome(Kind.PROTOCOL_ERROR, f"unexpected resultType {shorten(repr(kind), 40)} for {method}")


def _input_still_required(result: JSONObject, client: ClientAnswers | None) -> Outcome:
    asked = result.get("inputRequests")
    methods = [e.get("method") for e in asked.values() if isinstance(e, dict)] if isinstance(asked, dict) else []
    refused = sorted({str(m) for m in methods if not answers(client, m)})
    if refused:
        return Outcome(
            Kind.PROTOCOL_ERROR,
            f"server asks for client input ({shorten(', '.join(refused), 80)}) mcpgate declared no capability for",
        )
    return Outcome(Kind.PROTOCOL_ERROR, f"server still asks for client input after {MAX_INPUT_ROUNDS} rounds")


def judge_initialize(target: Target, result: JSONObject) -> Outcome:
    version = result.get("protocolVersion")
    if not isinstance(version, str):
        return Outcome(Kind.PROTOCOL_ERROR, "initialize result has no protocolVersion")
    expected = target.expect_version
    if expected is not None and version != expected:
        return Outcome(Kind.PROTOCOL_ERROR, f"server negotiated {shorten(version, 40)}, expected {expected}")
    if version not in HANDSHAKE_VERSIONS:
        return Outcome(Kind.PROTOCOL_ERROR, f"server negotiated {shorten(version, 40)!r}, which mcpgate does not speak")
    if not isinstance(result.get("capabilities"), dict):
        return Outcome(Kind.PROTOCOL_ERROR, "initialize result has no capabilities object")
    info = result.get("serverInfo")
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        return Outcome(Kind.PROTOCOL_ERROR, "initialize result has no serverInfo with a name")
    return OK


def judge_discover(target: Target, result: JSONObject) -> Outcome:
    versions = result.get("supportedVersions")
    if not isinstance(versions, list):
        return Outcome(Kind.PROTOCOL_ERROR, "server/discover result has no supportedVersions list")
    version = target.version
    if version not in versions:
        listed = shorten(", ".join(str(v) for v in versions[:6]), 80) or "none"
        return Outcome(Kind.PROTOCOL_ERROR, f"server/discover supports {listed}, not {version}")
    expected = target.expect_version
    if expected is not None and version != expected:
        return Outcome(Kind.PROTOCOL_ERROR, f"server speaks {version}, expected {expected}")
    if not isinstance(result.get("capabilities"), dict):
        return Outcome(Kind.PROTOCOL_ERROR, "server/discover result has no capabilities object")
    return OK


def judge_tool_result(result: JSONObject) -> Outcome:
    if result.get("isError") is True:
        return Outcome(Kind.TOOL_ERROR, _first_text(result.get("content")) or "isError: true")
    if not isinstance(result.get("content"), list) and "structuredContent" not in result:
        return Outcome(Kind.PROTOCOL_ERROR, "tools/call result has no content array")
    return OK


def _first_text(content: Any) -> str:
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                return shorten(block["text"])
    return ""


def tool_info(raw: Any, warnings: list[str], modern_era: bool) -> ToolInfo | None:
    """One entry of tools/list as a tool, or None (with a warning why) when it cannot be used."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        warnings.append("tools/list holds an entry without a name; skipped")
        return None
    schema, annotations, description = raw.get("inputSchema"), raw.get("annotations"), raw.get("description")
    tool = ToolInfo(
        raw["name"],
        schema if isinstance(schema, dict) else {},
        annotations if isinstance(annotations, dict) else {},
        description if isinstance(description, str) else "",
    )
    execution = raw.get("execution")
    if isinstance(execution, dict) and execution.get("taskSupport") in ("optional", "required"):
        tool.task_support = execution["taskSupport"]
    if modern_era:
        headers, problem = modern.param_headers(schema)
        if problem is not None:
            # The spec has clients drop such a tool rather than send headers it cannot trust.
            warnings.append(f"tool {shorten(tool.name, 60)!r} refused: {problem}")
            return None
        tool.param_headers = headers
    return tool


# The array each method's result must hold (the list methods' arrays, and the contents of a read or a prompt).
RESULT_ARRAYS = {
    "resources/list": "resources",
    "resources/templates/list": "resourceTemplates",
    "prompts/list": "prompts",
    "resources/read": "contents",
    "prompts/get": "messages",
}


def judge_shape(method: str, result: JSONObject) -> Outcome:
    """A result of the shape its method promises: the array it must hold, or completion.values."""
    key = RESULT_ARRAYS.get(method)
    if key is not None and not isinstance(result.get(key), list):
        return Outcome(Kind.PROTOCOL_ERROR, f"{method} result has no {key} array")
    if method == "completion/complete":
        completion = result.get("completion")
        if not isinstance(completion, dict) or not isinstance(completion.get("values"), list):
            return Outcome(Kind.PROTOCOL_ERROR, "completion/complete result has no completion.values array")
    return OK


def judge_task_created(result: JSONObject) -> Outcome:
    """A task-augmented tools/call answers with the task it created (CreateTaskResult), not the tool's result."""
    task = result.get("task")
    if not isinstance(task, dict) or not isinstance(task.get("taskId"), str):
        return Outcome(Kind.PROTOCOL_ERROR, "task-augmented tools/call result has no task with a taskId")
    return OK


def judge_task_status(result: JSONObject) -> Outcome:
    """tasks/get answers with the task itself: a taskId and a status."""
    if not isinstance(result.get("taskId"), str) or not isinstance(result.get("status"), str):
        return Outcome(Kind.PROTOCOL_ERROR, "tasks/get result has no taskId and status")
    return OK
