"""Every step type against the official TypeScript "everything" server, in both its transports:
resources, templates, prompts, completions, logging, subscriptions, ping and a raw method, with a
value captured from one answer and used in the next request."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PeerFactory
from tests.run.helpers import count, plan_from, run

pytestmark = pytest.mark.asyncio

STEPS: list[dict[str, object]] = [
    {"list": "resources", "capture": {"uri": "$.resources[0].uri"}, "name": "resources"},
    {"read": "{{ vars.uri }}", "expect": {"json": {"$.contents[0].uri": "{{ vars.uri }}"}}, "name": "read"},
    {"list": "resource_templates"},
    {"list": "prompts", "capture": {"prompt": "$.prompts[0].name"}},
    {"prompt": "{{ vars.prompt }}", "name": "prompt"},
    {"prompt": "args-prompt", "arguments": {"city": "Paris", "state": "Texas"}, "expect": {"text_contains": "Paris"}},
    {"complete": {"prompt": "completable-prompt", "argument": {"name": "department", "value": "E"}}},
    {"log_level": "warning"},
    {"subscribe": "{{ vars.uri }}"},
    {"unsubscribe": "{{ vars.uri }}"},
    {"ping": True, "repeat": 2},
    {"method": "tools/list", "params": {}, "name": "raw"},
    {"tool": "echo", "arguments": {"message": "hi {{ vu }}"}, "expect": {"text_contains": "{{ args.message }}"}},
]


@pytest.mark.parametrize("mode", ["ts-streamable", "ts-sse"])
async def test_every_step_type_runs_clean(peer: PeerFactory, tmp_path: Path, mode: str) -> None:
    config = {
        "target": {"url": peer(mode), "timeout": "5s"},
        "flow": {"steps": STEPS},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 2, "duration": "2s"}},
        "thresholds": {"checks": ["rate==1"], "checks{check:read}": ["rate==1"]},
    }
    results, text = await run(plan_from(tmp_path, config))
    assert results.run.status == "passed", results.run.reason + text
    phases = {row.name: row.count for row in results.phases}
    for method in (
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "ping",
        "tools/call",
    ):
        assert phases.get(method, 0) > 0, (method, phases)
    assert phases["ping"] == 2 * phases["resources/read"]
    assert count(results, "mcp_errors_capture_error") == 0
