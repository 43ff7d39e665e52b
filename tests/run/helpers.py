"""Run a plan in-process, from YAML text, as the CLI would; or run the CLI itself, as a user does."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from mcpgate.app.run import RunOptions, run_plan
from mcpgate.config.assemble import Overrides, assemble
from mcpgate.plan.build import Plan, build_plan
from mcpgate.results.schema import Results
from tests.faultserver import FaultServer
from tests.test_cli_probe import mcpgate

TOOL_CALL = {"tools": [{"name": "echo", "arguments": {"text": "{{ vu }}-{{ iteration }}"}}]}


def config_file(path: Path, config: Mapping[str, Any]) -> Path:
    """``config`` written as the YAML file a user would pass with ``-c``, keys in the order given."""
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


def plan_from(tmp_path: Path, config: dict[str, object], flags: Overrides | None = None) -> Plan:
    return build_plan(assemble(config_file(tmp_path / "mcpgate.yaml", config), flags or Overrides()))


def target(url: str) -> dict[str, object]:
    """The fault server speaks the handshake era: pin it, so no negotiation step muddies counts."""
    return {"url": url, "transport": "streamable-http", "protocol_version": "2025-11-25", "timeout": "2s"}


async def run(plan: Plan, *, out: Path | None = None, interval: float = 0.5, workers: int = 1) -> tuple[Results, str]:
    text = io.StringIO()
    options = RunOptions(out=out, interval=interval, progress=False, workers=workers)
    results = await run_plan(plan, options, out=text, err=io.StringIO())
    return results, text.getvalue()


class Ran(NamedTuple):
    """One ``mcpgate run`` process: its exit code, what it printed, and where it wrote its results."""

    code: int
    stdout: str
    stderr: str
    out: Path


async def run_cli(tmp_path: Path, *args: str, out: str = "results.json") -> Ran:
    """``mcpgate run ARGS`` as a user runs it, without the progress line, its results in ``tmp_path / out``."""
    path = tmp_path / out
    code, stdout, stderr = await mcpgate("run", *args, "--out", str(path), "--no-progress")
    return Ran(code, stdout, stderr, path)


def count(results: Results, key: str) -> float:
    value = results.metric(key, "count")
    return value if value is not None else 0.0


def calls_seen(faults: FaultServer, fault: str, since: int = 0) -> list[dict[str, Any]]:
    """The arguments of every tools/call the fault server saw on this route, from message ``since`` on."""
    return [m["params"]["arguments"] for m in faults.seen[fault][since:] if m.get("method") == "tools/call"]
