"""What the server says of itself reaches every report: ``probe --json``, the results, the console
and Markdown summaries, a merge; and the capabilities it offered that the run never exercised are named."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from mcpgate.results.schema import SeriesEntry
from mcpgate.results.server import capability_line, exercised, shorten, unexercised, unexercised_line
from mcpgate.support import exitcodes
from tests import servers, writeserver
from tests.conftest import PeerFactory
from tests.test_cli_probe import mcpgate

UNUSED = ["resources subscribe", "logging", "tasks", "completions"]
EVERYTHING_OFFERS = ["tools", "prompts", "resources", "logging", "tasks", "completions"]


def test_the_capability_line_names_each_capability_and_its_flags() -> None:
    caps = {"tools": {"listChanged": True}, "resources": {"subscribe": True, "listChanged": False}, "logging": {}}
    assert capability_line(caps) == "tools (listChanged), resources (subscribe), logging"
    assert capability_line({"tasks": {"list": {}, "requests": {"tools": {"call": {}}}}}) == "tasks (list, requests)"
    assert capability_line(None) == ""
    assert len(capability_line({f"vendor{i}": {"x": True} for i in range(100)})) == 300


def test_instructions_are_shortened_to_one_line() -> None:
    assert shorten("Use\nsearch\u2028first.\r\n\tThen fetch.") == "Use search first. Then fetch."
    long = shorten("word " * 100)
    assert len(long) == 160
    assert long.endswith("…")
    assert shorten(None) == ""


def _sent(*methods: str, tasks: int = 0) -> set[str]:
    series = [SeriesEntry(metric="http_reqs", tags={"method": m}, type="counter", values={"count": 1}) for m in methods]
    series.append(SeriesEntry(metric="mcp_task_duration", tags={"tool": "x"}, type="trend", values={"count": tasks}))
    return exercised(series)


def test_unexercised_capabilities_are_computed_from_the_methods_sent() -> None:
    caps = {
        "tools": {},
        "resources": {"subscribe": True},
        "prompts": {},
        "completions": {},
        "logging": {},
        "tasks": {"requests": {"tools": {"call": {}}}},
        "experimental": {"x": {}},
    }
    everything = ["tools", "resources (subscribe)", "prompts", "completions", "logging", "tasks"]
    assert unexercised(caps, _sent()) == everything
    assert unexercised(caps, _sent("initialize", "tools/list", "tools/call")) == everything[1:]
    assert unexercised(caps, _sent("tools/call", "resources/read", "prompts/list")) == [
        "resources subscribe",
        "completions",
        "logging",
        "tasks",
    ]
    sent = _sent(
        "tools/call", "resources/list", "resources/subscribe", "prompts/get", "completion/complete", "logging/setLevel"
    )
    assert unexercised(caps, sent) == ["tasks"]
    assert unexercised(caps, sent | _sent(tasks=3)) == []
    assert unexercised_line(["prompts", "logging"]) == "prompts, logging offered but not exercised"
    assert unexercised_line([]) == ""


async def test_probe_json_carries_the_everything_servers_capabilities_and_instructions(peer: PeerFactory) -> None:
    code, out, err = await mcpgate("probe", peer("ts-streamable"), "--json")
    assert code == exitcodes.OK, err
    report = json.loads(out)
    caps = report["capabilities"]
    assert list(caps) == EVERYTHING_OFFERS
    assert caps["resources"]["subscribe"] is True
    assert caps["tasks"]["requests"] == {"tools": {"call": {}}}
    assert "Everything Server" in report["instructions"]
    assert "\n" in report["instructions"]  # the JSON keeps them whole; the text shortens them
    code, out, _ = await mcpgate("probe", peer("ts-streamable"))
    lines = out.splitlines()
    offers = next(line for line in lines if line.startswith("  offers "))
    assert "resources (subscribe, listChanged)" in offers
    assert "tasks (list, cancel, requests)" in offers
    instructs = next(line for line in lines if line.startswith("  instructs "))
    assert len(instructs) <= len("  instructs  ") + 160
    assert instructs.endswith("…")


async def test_probe_json_of_a_server_without_instructions(peer: PeerFactory) -> None:
    code, out, err = await mcpgate("probe", peer("stateful-json"), "--protocol-version", "2025-11-25", "--json")
    assert code == exitcodes.OK, err
    report = json.loads(out)
    assert "tools" in report["capabilities"]
    assert report["instructions"] is None
    code, out, _ = await mcpgate("probe", peer("stateful-json"), "--protocol-version", "2025-11-25")
    assert not any(line.startswith("  instructs") for line in out.splitlines())


async def _run(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    out = tmp_path / "results.json"
    code, stdout, err = await mcpgate(
        "run", *args, "--duration", "2s", "--no-progress", "--out", str(out), "--markdown", str(tmp_path / "s.md")
    )
    assert out.exists(), err
    return code, stdout, json.loads(out.read_text())


async def test_results_and_summaries_record_the_server_and_name_what_was_not_exercised(
    peer: PeerFactory, tmp_path: Path
) -> None:
    code, console, results = await _run(tmp_path, "--url", peer("ts-streamable"), "--tools", "echo {}")
    assert code == exitcodes.OK, console
    target = results["target"]
    assert list(target["capabilities"]) == EVERYTHING_OFFERS
    assert "Everything Server" in target["instructions"]
    # Sessions listed tools, prompts and resources (discover: auto) and called echo: subscriptions,
    # logging, tasks and completions went unexercised.
    assert target["unexercised"] == UNUSED
    lines = console.splitlines()
    assert f"  unused     {', '.join(UNUSED)} offered but not exercised" in lines
    assert any(line.startswith("  offers     tools (listChanged), prompts (listChanged)") for line in lines)
    instructs = next(line for line in lines if line.startswith("  instructs "))
    assert len(instructs) <= len("  instructs  ") + 160
    markdown = (tmp_path / "s.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| instructions |"))
    assert row.startswith("| instructions | # Everything Server – Server Instructions Audience: ")  # one line
    assert row.endswith("… |")
    assert row.count("|") == 3
    assert f"| not exercised | {', '.join(UNUSED)} offered but not exercised |" in (markdown)
    assert "| capabilities | tools (listChanged), prompts (listChanged)" in markdown
    code, text, _ = await mcpgate("report", str(tmp_path / "results.json"))
    assert f"  unused     {', '.join(UNUSED)} offered but not exercised" in (text.splitlines())


async def test_a_merge_keeps_the_server_and_judges_unexercised_over_every_shard(
    peer: PeerFactory, tmp_path: Path
) -> None:
    url = peer("stateful-json")
    config = tmp_path / "seed.yaml"  # the seed's flow: sessions list tools only, so resources and prompts go unused
    config.write_text(f"target: {{url: '{url}'}}\nflow: {{discover: seed}}\n")
    runs = [
        mcpgate(
            "run", "-c", str(config), "--protocol-version", "2025-11-25", "--vus", "2", "--duration", "2s",
            "--shard", f"{i}/2", "--no-progress", "--out", str(tmp_path / f"shard-{i}.json"),
        )
        for i in range(2)
    ]  # fmt: skip
    for code, out, err in await asyncio.gather(*runs):
        assert code == exitcodes.OK, out + err
    merged = tmp_path / "merged.json"
    code, out, err = await mcpgate("merge", str(tmp_path / "shard-*.json"), "--out", str(merged))
    assert code == exitcodes.OK, out + err
    target = json.loads(merged.read_text())["target"]
    shard = json.loads((tmp_path / "shard-0.json").read_text())["target"]
    assert target["capabilities"] == shard["capabilities"]
    assert "tools" in target["capabilities"]
    assert "tools" not in target["unexercised"]
    assert target["unexercised"] == shard["unexercised"]
    assert {"prompts", "resources (subscribe)", "completions"} <= set(target["unexercised"])
    assert f"  unused     {', '.join(target['unexercised'])} offered but not exercised" in out.splitlines()


async def test_a_server_whose_tools_are_never_called_has_tools_unexercised(tmp_path: Path) -> None:
    with servers.serving(lambda port: writeserver.command(port, "--instructions", "Notes | *live*\nhere")) as server:
        code, console, results = await _run(tmp_path, "--url", server.url("/mcp"))
    assert code == exitcodes.OK, console
    assert results["target"]["instructions"] == "Notes | *live*\nhere"
    assert "tools" in results["target"]["unexercised"]
    markdown = (tmp_path / "s.md").read_text()
    assert "| instructions | Notes \\| \\*live\\* here |" in markdown
