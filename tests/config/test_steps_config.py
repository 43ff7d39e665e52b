"""Flows of steps as configured: one-line errors naming the field, the JSON path, the checks' logic."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from mcpgate.config.steps import ExpectConfig
from mcpgate.protocol.outcome import Kind
from mcpgate.support.errors import UsageError
from mcpgate.support.jsonpath import parse_path, resolve
from mcpgate.workload.capture import compile_captures
from mcpgate.workload.expect import Expect
from mcpgate.workload.templates import CallContext
from tests.run.helpers import plan_from

TARGET = {"url": "http://127.0.0.1:9/mcp"}


def error_of(tmp_path: Path, config: dict[str, Any]) -> str:
    with pytest.raises(UsageError) as caught:
        plan_from(tmp_path, {"target": TARGET, **config})
    return str(caught.value)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"flow": {"steps": [{"tool": "a", "read": "b"}]}}, "flow.steps.0: a step takes exactly one of tool, list"),
        ({"flow": {"steps": [{"arguments": {}}]}}, "(found: none)"),
        ({"flow": {"steps": [{"ping": True, "arguments": {"a": 1}}]}}, "arguments apply to tool and prompt steps"),
        ({"flow": {"steps": [{"list": "widgets"}]}}, "flow.steps.0.list"),
        ({"flow": {"steps": [{"tool": "a", "capture": {"1x": "$.a"}}]}}, "flow.steps.0.capture: '1x' is not a name"),
        ({"flow": {"steps": [{"tool": "a", "capture": {"x": "$.a..b"}}]}}, "flow.steps[0].capture.x: expected"),
        (
            {"flow": {"steps": [{"tool": "a", "expect": {"json": {"a": 1}}}]}},
            "flow.steps.0.expect.json: 'a': a JSONPath",
        ),
        ({"flow": {"steps": [{"tool": "a", "expect": {"text_matches": "("}}]}}, "expect.text_matches: not a regular"),
        ({"flow": {"steps": [{"tool": "a", "repeat": 0}]}}, "flow.steps.0.repeat"),
        ({"flow": {"steps": [{"one_of": [{"tool": "a", "weight": 0}]}]}}, "flow.steps.0.one_of.0.weight"),
        ({"flow": {"steps": [{"tool": "a", "arguments": {"x": "{{ vars.id }}"}}]}}, "flow.steps[0]: vars.id is read"),
        (
            {"flow": {"tools": [{"name": "a"}], "steps": [{"tool": "a"}]}},
            "flow.steps: flow.tools and flow.steps are exclusive",
        ),
        (
            {"flow": {"steps": [{"ping": True}]}, "flows": [{"name": "f", "steps": [{"ping": True}]}]},
            "flows: flows, flow.tools and flow.steps are exclusive",
        ),
        ({"flows": [{"name": "f", "steps": [{"tool": "a", "dataset": "nope"}]}]}, "flows[0].steps[0].dataset: no"),
        ({"flows": [{"name": "f", "steps": []}]}, "flows.0.steps"),
        ({"flow": {"steps": [{"ping": True, "cancel_after": "1s"}]}}, "cancel_after apply to tool steps only"),
        (
            {"flow": {"steps": [{"tool": "a", "cancel_after": "2s", "timeout": "1s"}]}},
            "cancel_after must be shorter than the step's timeout",
        ),
        (
            {"flow": {"steps": [{"tool": "a", "cancel_after": "1s", "capture": {"x": "$.a"}}]}},
            "a step with cancel_after has no answer to capture from or check",
        ),
    ],
)
def test_step_errors_are_one_line_naming_the_field(tmp_path: Path, config: dict[str, Any], expected: str) -> None:
    message = error_of(tmp_path, config)
    assert expected in message, message
    assert "\n" not in message


def test_a_capture_read_only_on_some_paths_is_not_defined(tmp_path: Path) -> None:
    branches = [{"tool": "a", "capture": {"id": "$.a"}}, {"tool": "b"}]
    steps = [{"one_of": branches}, {"tool": "c", "arguments": {"x": "{{ vars['id'] }}"}}]
    assert "flow.steps[1]: vars.id is read" in error_of(tmp_path, {"flow": {"steps": steps}})
    maybe = [{"tool": "a", "probability": 0.5, "capture": {"id": "$.a"}}, steps[1]]
    assert "vars.id is read" in error_of(tmp_path, {"flow": {"steps": maybe}})
    guarded = [{"tool": "c", "arguments": {"x": "{{ vars.get('id', 'none') }}"}}]
    plan_from(tmp_path, {"target": TARGET, "flow": {"steps": guarded}})  # vars.get: may be missing, said so


def test_a_flow_of_every_step_type_validates(tmp_path: Path) -> None:
    steps = [
        {"tool": "search", "arguments": {"q": "x"}, "capture": {"id": "$.structuredContent.result[0]"}},
        {
            "tool": "get",
            "arguments": {"id": "{{ vars.id }}"},
            "expect": {"json": {"$.structuredContent.id": "{{ args.id }}"}},
        },
        {
            "one_of": [
                {"read": "records://{{ vars.id }}", "weight": 3},
                {"prompt": "summarize", "arguments": {"id": "1"}},
            ]
        },
        {"list": "resources"},
        {"subscribe": "records://rec_1"},
        {"unsubscribe": "records://rec_1"},
        {"complete": {"prompt": "summarize", "argument": {"name": "id", "value": "rec_"}}},
        {"log_level": "warning"},
        {"ping": True, "think_time": "10ms..20ms", "repeat": 2, "probability": 0.5},
        {"method": "vendor/thing", "params": {"x": 1}, "name": "vendor"},
        {"tool": "slow", "timeout": "2s", "progress": True, "task": True},
    ]
    plan = plan_from(tmp_path, {"target": TARGET, "flow": {"steps": steps}})
    assert len(plan.config.flow.steps) == len(steps)


def test_paths() -> None:
    doc = {"structuredContent": {"result": ["rec_1", "rec_2"]}, "a": {"b c": [{"x": 1}, {"id": 5}]}}
    assert resolve(doc, parse_path("$.structuredContent.result[0]")) == "rec_1"
    assert resolve(doc, parse_path("$.structuredContent.result[-1]")) == "rec_2"
    assert resolve(doc, parse_path("$.a['b c'][*].id")) == 5  # the first item that has one
    assert resolve(doc, parse_path('.a["b c"][0].x')) == 1
    assert resolve(doc, parse_path("structuredContent.result.1")) == "rec_2"  # the monitor's dotted form
    assert resolve(doc, parse_path("$")) is doc
    with pytest.raises(LookupError, match=r"no item of a\.b c has zz"):
        resolve(doc, parse_path("$.a['b c'][*].zz"))
    with pytest.raises(LookupError, match="has 2 item"):
        resolve(doc, parse_path("$.structuredContent.result[-3]"))
    for bad in ("a..b", "a.", "[x]"):
        with pytest.raises(ValueError, match="expected a dotted path"):
            parse_path(bad)


CTX = CallContext(1, 0, "s", random.Random(0), vars={"want": "rec_1"})


def tool_result(text: str, structured: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if structured is not None:
        result["structuredContent"] = structured
    return result


def test_expect_checks_text_json_and_content_type() -> None:
    expect = Expect(
        ExpectConfig.model_validate(
            {
                "text_contains": "{{ args.id }}",
                "text_matches": "^\\{",
                "json": {"$.structuredContent.id": "{{ vars.want }}"},
                "content_type": "text",
            }
        ),
        "flow.steps[0].expect",
    )
    good = tool_result('{"id": "rec_1"}', {"id": "rec_1"})
    assert expect.check(good, CTX, {"id": "rec_1"}).ok
    wrong = expect.check(tool_result('{"id": "rec_2"}', {"id": "rec_2"}), CTX, {"id": "rec_1"})
    assert wrong.kind is Kind.CHECK_FAILED
    assert wrong.reason == "expect text_contains: 'rec_1' not in '{\"id\": \"rec_2\"}'"
    mixed = expect.check(tool_result('{"id": "rec_1"}', {"id": "rec_2"}), CTX, {"id": "rec_1"})
    assert mixed.reason == "expect json $.structuredContent.id: expected 'rec_1', got 'rec_2'"
    image = {"content": [{"type": "image", "data": "", "mimeType": "image/png"}], "structuredContent": {"id": "rec_1"}}
    assert "text_matches" in expect.check(image, CTX, {"id": ""}).reason  # an image has no text
    typed = Expect(ExpectConfig(content_type="text"), "e")
    assert "content_type" in typed.check(image, CTX, {}).reason
    assert "content_type" in typed.check({"content": []}, CTX, {}).reason


def test_captures_take_paths_and_templates_and_refuse_nothing() -> None:
    captures = compile_captures({"id": "$.structuredContent.result[0]", "title": "{{ text | upper }}"}, "capture")
    assert captures is not None
    found = captures.take(tool_result("hello", {"result": ["rec_7"]}), CTX, {})
    assert found == {"id": "rec_7", "title": "HELLO"}
    assert "result has 0 item(s)" in str(captures.take(tool_result("x", {"result": []}), CTX, {}))
    assert captures.take(tool_result("", {"result": ["rec_7"]}), CTX, {}) == "capture title: found nothing"
    assert "is null" in str(captures.take(tool_result("x", {"result": [None]}), CTX, {}))
