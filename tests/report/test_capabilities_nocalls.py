"""A run that calls no tool because none is read-only says so in every report, and
``require-calls`` makes it a failure on every door: the CLI, the config, the Action, the smoke check."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpgate.support import exitcodes
from tests import servers, writeserver
from tests.action.test_action import action
from tests.conftest import PeerFactory
from tests.test_cli_probe import mcpgate

WARNING = (
    "no tool is called: none of the server's tools is marked readOnlyHint (not called, as they may write: "
    "add_note, delete_note); name them in flow.tools to call them"
)


@pytest.fixture(scope="module")
def writes() -> Iterator[str]:
    with servers.serving(writeserver.command) as server:
        yield server.url("/mcp")


async def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return await mcpgate(
        "run",
        *args,
        "--duration",
        "2s",
        "--no-progress",
        "--out",
        str(tmp_path / "results.json"),
        "--markdown",
        str(tmp_path / "summary.md"),
        "--junit",
        str(tmp_path / "junit.xml"),
    )


def _results(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "results.json").read_text())
    return data


async def test_every_report_warns_when_no_tool_is_called(writes: str, tmp_path: Path) -> None:
    code, out, err = await _run(tmp_path, "--url", writes)
    assert code == exitcodes.OK, out + err
    lines = out.splitlines()
    assert lines[1] == f"WARNING: {WARNING}"
    results = _results(tmp_path)
    assert results["warnings"] == [WARNING]
    assert results["run"]["status"] == "passed"
    assert not any("readOnlyHint" in note for note in results["run"]["notes"])  # said once, as the warning
    markdown = (tmp_path / "summary.md").read_text()
    assert "> ⚠️ **Warning:** no tool is called: none of the server's tools is marked readOnlyHint" in markdown
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0"
    assert suite.get("errors") == "0"
    props = [p.get("value") for p in suite.iter("property") if p.get("name") == "warning"]
    assert props == [WARNING]
    system_out = suite.find("system-out")
    assert system_out is not None
    assert system_out.text == f"WARNING: {WARNING}"
    code, text, _ = await mcpgate("report", str(tmp_path / "results.json"))
    assert f"WARNING: {WARNING}" in text.splitlines()


async def test_a_run_that_calls_tools_has_no_warning(peer: PeerFactory, tmp_path: Path) -> None:
    code, out, err = await _run(tmp_path, "--url", peer("stateless-json"))
    assert code == exitcodes.OK, out + err
    assert _results(tmp_path)["warnings"] == []
    assert "WARNING" not in out
    assert "Warning" not in (tmp_path / "summary.md").read_text()


async def test_require_calls_fails_the_preflight_with_103_naming_the_tools(writes: str, tmp_path: Path) -> None:
    code, out, err = await _run(tmp_path, "--url", writes, "--require-calls")
    assert code == exitcodes.COULD_NOT_START, out + err
    assert out.splitlines()[0] == f"mcpgate: DID NOT START (exit 103): require-calls: {WARNING}"
    results = _results(tmp_path)
    assert results["run"]["exit_code"] == exitcodes.COULD_NOT_START
    assert results["run"]["reason"] == f"require-calls: {WARNING}"
    assert results["warnings"] == [WARNING]


async def test_require_calls_as_a_config_key(writes: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"target:\n  url: {writes}\nflow:\n  require_calls: true\n")
    code, out, err = await _run(tmp_path, "-c", str(config))
    assert code == exitcodes.COULD_NOT_START, out + err
    assert _results(tmp_path)["run"]["reason"] == f"require-calls: {WARNING}"
    config.write_text(f"target:\n  url: {writes}\nflow:\n  require_calls: maybe\n")
    code, _, err = await mcpgate("validate", str(config))
    assert code == exitcodes.INVALID_INPUT
    assert "require_calls" in err


async def test_require_calls_passes_when_a_named_tool_is_called(writes: str, tmp_path: Path) -> None:
    code, out, err = await _run(tmp_path, "--url", writes, "--require-calls", "--tools", 'add_note {"text": "x"}')
    assert code == exitcodes.OK, out + err
    assert _results(tmp_path)["warnings"] == []


async def test_the_action_annotates_the_warning_and_fails_with_require_calls(writes: str, tmp_path: Path) -> None:
    inputs = {"INPUT_URL": writes, "INPUT_DURATION": "2s", "INPUT_NO-PROGRESS": "true"}
    (tmp_path / "warn").mkdir()
    (tmp_path / "fail").mkdir()
    run = await action(tmp_path / "warn", inputs)
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    assert f"::warning title=mcpgate%3A warning::{WARNING}" in run.stdout.splitlines()
    assert "**Warning:** no tool is called" in run.summary
    run = await action(tmp_path / "fail", {**inputs, "INPUT_REQUIRE-CALLS": "true"})
    assert run.code == exitcodes.COULD_NOT_START, run.stdout + run.stderr
    assert run.outputs["exit-code"] == "103"
    assert f"require-calls: {WARNING}" in run.stdout


async def test_smoke_with_call_auto_fails_on_require_calls(writes: str, tmp_path: Path) -> None:
    args = ("smoke", writes, "--call", "auto", "--sessions", "1", "--interval", "0s", "--json")
    code, out, _ = await mcpgate(*args)
    assert code == exitcodes.OK
    assert json.loads(out)["warnings"] == ["call auto: no tool is marked readOnlyHint, so no call was made"]
    code, out, _ = await mcpgate(*args, "--require-calls")
    assert code == exitcodes.CHECK_FAILED
    assert json.loads(out)["reason"] == (
        "session 1: require-calls: call auto: no tool is marked readOnlyHint, so no call was made "
        "(tools: add_note, delete_note)"
    )
    inputs = {
        "INPUT_URL": writes,
        "INPUT_SMOKE-ONLY": "true",
        "INPUT_SMOKE-SESSIONS": "1",
        "INPUT_REQUIRE-CALLS": "true",
    }
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.CHECK_FAILED, run.stdout + run.stderr
    assert "require-calls: call auto" in run.stdout
