"""``mcpgate init`` against real servers: the file it writes validates, runs the smoke profile, keeps
its comments, holds no secret, and never replaces a file it was not told to."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcpgate.app.init import Found, Given, starter_config
from mcpgate.config.assemble import Overrides, assemble
from mcpgate.plan.build import build_plan
from mcpgate.protocol.records import ToolInfo
from mcpgate.support import exitcodes
from tests import servers, writeserver
from tests.conftest import PeerFactory
from tests.test_cli_probe import mcpgate

TOKEN = "tok-7f3c1e-secret"
HEADER_SECRET = "hdr-91ab-secret"

# (peer mode, extra init flags): every transport and era of the example server, and the everything server.
PEERS = {
    "streamable-2025-11-25": ("stateful-sse", ("--protocol-version", "2025-11-25")),
    "stateless": ("stateless-json", ()),
    "legacy-sse": ("legacy-sse", ()),
    "2026-07-28": ("stateful-json", ("--protocol-version", "2026-07-28")),
    "everything": ("ts-streamable", ()),
}


@pytest.fixture(scope="module")
def write_server() -> Iterator[str]:
    """A server of our own whose tools carry no readOnlyHint."""
    with servers.serving(writeserver.command) as server:
        yield server.url("/mcp")


async def _smoke(config: Path, tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = tmp_path / "results.json"
    code, stdout, err = await mcpgate(
        "run", "-c", str(config), "--profile", "smoke", "--duration", "2s", "--no-progress", "--out", str(out), env=env
    )
    assert code == exitcodes.OK, stdout + err
    results: dict[str, Any] = json.loads(out.read_text())
    return results


@pytest.mark.parametrize("case", list(PEERS))
async def test_init_writes_a_config_that_validates_and_passes_the_smoke_profile(
    case: str, peer: PeerFactory, tmp_path: Path
) -> None:
    mode, flags = PEERS[case]
    config = tmp_path / "mcpgate.yaml"
    code, out, err = await mcpgate("init", peer(mode), "-o", str(config), *flags)
    assert code == exitcodes.OK, err
    assert f"wrote {config}" in out
    code, out, err = await mcpgate("validate", str(config))
    assert (code, err) == (exitcodes.OK, ""), err
    data = yaml.safe_load(config.read_text())
    assert data["profile"] == "smoke"
    assert data["target"]["url"] == peer(mode)
    assert data["flow"]["discover"][0] == "tools"
    assert {"http_req_failed", "mcp_tool_duration"} <= set(data["thresholds"])
    called = {t["name"] for t in data["flow"]["tools"]}
    assert called, "every peer here has read-only tools: the mix must hold them"
    results = await _smoke(config, tmp_path)
    tools = {row["name"] for row in results["tools"]}
    assert tools
    assert tools <= called
    assert results["warnings"] == []


async def test_the_everything_servers_writing_tools_are_commented_out_with_the_reason(
    peer: PeerFactory, tmp_path: Path
) -> None:
    config = tmp_path / "mcpgate.yaml"
    code, _, err = await mcpgate("init", peer("ts-streamable"), "-o", str(config))
    assert code == exitcodes.OK, err
    text = config.read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# mcpgate starter config for ")
    assert "# It offers: tools (listChanged), prompts (listChanged), resources (subscribe, listChanged)" in text
    assert "  # Not read-only: it may write, so a load test calls it only when you uncomment it." in lines
    assert "  #   - name: toggle-subscriber-updates" in lines
    listed = {t["name"] for t in yaml.safe_load(text)["flow"]["tools"]}
    assert "toggle-subscriber-updates" not in listed
    assert "echo" in listed
    # A read-only tool whose trial call is slower than the thresholds allow stays out, with the reason.
    slow = lines.index("  #   - name: trigger-long-running-operation")
    assert lines[slow - 2].startswith("  # Read-only, but its trial call")
    assert "trigger-long-running-operation" not in listed
    assert yaml.safe_load(text)["flow"]["discover"] == ["tools", "resources", "prompts"]
    assert "#   demo://resource/static/document/architecture.md" in lines
    assert any(line.startswith("#   args-prompt (city") for line in lines)
    # Uncommented, the listed write tool is a valid config line at the mix's indentation.
    uncommented = text.replace(
        "  #   - name: toggle-subscriber-updates\n  #     arguments: {}",
        "    - name: toggle-subscriber-updates\n      arguments: {}",
    )
    assert "toggle-subscriber-updates" in {t["name"] for t in yaml.safe_load(uncommented)["flow"]["tools"]}


async def test_no_secret_is_written_only_references_to_the_environment(peer: PeerFactory, tmp_path: Path) -> None:
    config = tmp_path / "mcpgate.yaml"
    code, out, err = await mcpgate(
        "init", peer("stateful-json"), "-o", str(config), "--bearer-token", TOKEN, "-H", f"X-Api-Key: {HEADER_SECRET}"
    )
    assert code == exitcodes.OK, err
    text = config.read_text()
    assert TOKEN not in text + out + err
    assert HEADER_SECRET not in text + out + err
    assert "  bearer_token: ${MCP_TOKEN}" in text.splitlines()
    assert "    X-Api-Key: ${MCP_HEADER_X_API_KEY}" in text.splitlines()
    code, _, err = await mcpgate("validate", str(config), env=_env())
    assert code == exitcodes.INVALID_INPUT
    assert "environment variable MCP_TOKEN is not set" in err
    env = _env(MCP_TOKEN=TOKEN, MCP_HEADER_X_API_KEY=HEADER_SECRET)
    code, _, err = await mcpgate("validate", str(config), env=env)
    assert code == exitcodes.OK, err
    await _smoke(config, tmp_path, env)


def _env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_TOKEN", "MCP_HEADER_", "MCPGATE_"))}
    return {**env, **more}


async def test_an_existing_file_is_not_overwritten_without_force(peer: PeerFactory, tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("# my own config\n")
    code, _out, err = await mcpgate("init", peer("stateful-json"), "-o", str(config))
    assert code == exitcodes.INVALID_INPUT
    assert err.strip().count("\n") == 0, err
    assert "--output" in err
    assert "--force" in err
    assert config.read_text() == "# my own config\n"
    code, _, err = await mcpgate("init", peer("stateful-json"), "-o", str(config), "--force")
    assert code == exitcodes.OK, err
    assert config.read_text().startswith("# mcpgate starter config")
    assert [p.name for p in list(tmp_path.iterdir())] == ["mine.yaml"]  # noqa: ASYNC240 (no temporary file left)


async def test_bad_input_and_an_unreachable_server_are_one_line_each_with_their_own_exit_codes(tmp_path: Path) -> None:
    config = tmp_path / "mcpgate.yaml"
    code, _, err = await mcpgate("init", "not a url", "-o", str(config))
    assert code == exitcodes.INVALID_INPUT, err
    assert err.count("\n") == 1, err
    assert "URL" in err
    code, _, err = await mcpgate("init", f"http://127.0.0.1:{servers.free_port()}/mcp", "-o", str(config))
    assert code == exitcodes.COULD_NOT_START, err
    assert err.count("\n") == 1, err
    assert "could not connect" in err
    code, _, err = await mcpgate("init", "http://127.0.0.1:1/mcp", "-o", str(tmp_path / "no" / "dir.yaml"))
    assert code == exitcodes.INVALID_INPUT, err
    assert "no directory" in err
    assert not config.exists()


async def test_a_server_without_read_only_tools_gets_an_empty_mix_and_the_run_says_so(
    write_server: str, tmp_path: Path
) -> None:
    config = tmp_path / "mcpgate.yaml"
    code, _, err = await mcpgate("init", write_server, "-o", str(config))
    assert code == exitcodes.OK, err
    text = config.read_text()
    data = yaml.safe_load(text)
    assert data["flow"]["tools"] == []
    assert "  #   - name: add_note" in text.splitlines()
    assert "  #   - name: delete_note" in text.splitlines()
    assert "  # mcp_tool_duration: [p(95)<3000, p(99)<8000]  (no tool is called yet)" in text.splitlines()
    results = await _smoke(config, tmp_path)
    assert results["warnings"]
    assert "add_note, delete_note" in results["warnings"][0]


def test_server_text_stays_inside_comments_and_values_stay_literal(tmp_path: Path) -> None:
    """A description with line breaks, a name that YAML would read as something else, a value with ``${``."""
    q = {"type": "string", "examples": ["${HOME} | yes"]}
    schema = {"type": "object", "properties": {"q": q}, "required": ["q"]}
    tools = [
        ToolInfo("yes", schema, {"readOnlyHint": True}, "first line\nflow: {tools: []}\u2028thresholds: {}"),
        ToolInfo("drop: table", {}, {}, "writes\r\n- name: evil"),
    ]
    text = starter_config(Found(tools=tools, resources=["a://x\nprofile: load"]), Given(url="http://127.0.0.1:1/mcp"))
    data = yaml.safe_load(text)
    assert data["profile"] == "smoke"
    assert data["flow"]["tools"] == [{"name": "yes", "arguments": {"q": "$${HOME} | yes"}}]
    assert set(data) == {"target", "profile", "flow", "thresholds"}
    config = tmp_path / "c.yaml"
    config.write_text(text)
    plan = build_plan(assemble(config, Overrides()))
    tool = plan.config.flow.tools[0]
    assert tool.name == "yes"
    assert tool.arguments == {"q": "${HOME} | yes"}  # the loader's own reference syntax, escaped: kept literally
