"""Run a plan in-process, from YAML text, as the CLI would."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from mcpgate.app.run import RunOptions, run_plan
from mcpgate.config.assemble import Overrides, assemble
from mcpgate.plan.build import Plan, build_plan
from mcpgate.results.schema import Results

TOOL_CALL = {"tools": [{"name": "echo", "arguments": {"text": "{{ vu }}-{{ iteration }}"}}]}


def plan_from(tmp_path: Path, config: dict[str, object], flags: Overrides | None = None) -> Plan:
    path = tmp_path / "mcpgate.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return build_plan(assemble(path, flags or Overrides()))


def target(url: str) -> dict[str, object]:
    """The fault server speaks the handshake era: pin it, so no negotiation step muddies counts."""
    return {"url": url, "transport": "streamable-http", "protocol_version": "2025-11-25", "timeout": "2s"}


async def run(plan: Plan, *, out: Path | None = None, interval: float = 0.5, workers: int = 1) -> tuple[Results, str]:
    text = io.StringIO()
    options = RunOptions(out=out, interval=interval, progress=False, workers=workers)
    results = await run_plan(plan, options, out=text, err=io.StringIO())
    return results, text.getvalue()


def count(results: Results, key: str) -> float:
    value = results.metric(key, "count")
    return value if value is not None else 0.0
