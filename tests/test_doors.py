"""Every option of ``mcpgate run`` exists on every door: the CLI, the Action and ``docker run``.

The list comes from the request model itself (``RUN_OPTIONS``), so an option added there and
forgotten in ``action.yml``, the CLI's ``--help`` or the README fails here.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mcpgate.app.requests import RUN_OPTIONS, Option, RunRequest
from mcpgate.app.verbs import prepare
from mcpgate.doors.argv import read_options
from mcpgate.doors.cli import build_parser, main, words
from mcpgate.doors.inputs import ACTION_INPUTS

ROOT = Path(__file__).resolve().parents[1]
FILES = {"out": "results.json", "markdown": "summary.md", "junit": "junit.xml"}


def options_table() -> str:
    """The README's table of every run option on every door, as the model gives it."""
    rows = ["| option | `mcpgate run` | Action input | `docker run -e` |", "| --- | --- | --- | --- |"]
    for o in RUN_OPTIONS:
        flag = f"`{o.cli_flag}`" + (f", `{o.short}`" if o.short else "")
        given = f"`{o.action_input}` ({FILES[o.name]})" if o.name in FILES else f"`{o.action_input}`"
        rows.append(f"| {o.name} | {flag} | {given} | `{o.env}` |")
    return "\n".join(rows)


def run_help() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["run", "--help"])
    return out.getvalue()


@pytest.mark.parametrize("option", RUN_OPTIONS, ids=lambda o: o.name)
def test_every_run_option_is_a_flag_an_input_and_a_documented_variable(option: Option) -> None:
    inputs = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"]
    assert option.action_input in inputs, f"action.yml has no input {option.action_input!r}"
    assert re.search(rf"(^|[\s,]){re.escape(option.cli_flag)}\b", run_help()), f"--help lacks {option.cli_flag}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`{option.env}`" in readme, f"the README does not document {option.env}"
    assert f"`{option.cli_flag}" in readme, f"the README does not document {option.cli_flag}"


def test_the_readme_table_of_options_is_the_models() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- options:begin -->\n(.*?)\n<!-- options:end -->", readme, re.S)
    assert found is not None, "the README lost its options table"
    assert found.group(1) == options_table()


def test_every_input_of_action_yml_is_read_by_the_action() -> None:
    inputs = set(yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["inputs"])
    read = {o.action_input for o in RUN_OPTIONS} | set(ACTION_INPUTS)
    assert inputs == read


def test_the_container_door_hands_every_verb_to_the_cli() -> None:
    """entrypoint.py takes its verbs from the CLI's parser: a new verb needs no second list."""
    verbs = {w for w in words() if not w.startswith("-")}
    assert {"run", "probe", "smoke", "monitor", "merge", "compare", "drift", "report", "validate", "schema"} <= verbs
    for verb in sorted(verbs):
        done = subprocess.run(
            [sys.executable, str(ROOT / "entrypoint.py"), verb, "--help"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (verb, done.stderr)
        assert f"usage: mcpgate {verb}" in done.stdout


def test_the_cli_has_the_tool_mix_and_the_search_steps_the_action_has(tmp_path: Path) -> None:
    """--tools and --breakpoint: one line each, read as the Action's tools and breakpoint inputs are."""
    argv = [
        "run",
        "--url",
        "http://127.0.0.1:9/mcp",
        "--profile",
        "breakpoint",
        "--tools",
        'get_record: 3 {"id": "r1"}',
    ]
    argv += ["--tools", "search auto", "--breakpoint", "start: 5", "--breakpoint", "max: 15", "--breakpoint", "step: 5"]
    fields = read_options(build_parser().parse_args(argv), RUN_OPTIONS)
    plan, _ = prepare(RunRequest(base=tmp_path, **fields))
    tools = [(t.name, t.weight, t.arguments) for t in plan.config.flow.tools]
    assert tools == [("get_record", 3.0, {"id": "r1"}), ("search", 1.0, "auto")]
    assert plan.breakpoint is not None
    assert plan.breakpoint.levels == (5.0, 10.0, 15.0)


def test_a_tool_mix_file_is_found_where_the_door_starts_paths(tmp_path: Path) -> None:
    (tmp_path / "mix.yaml").write_text("- {name: ping}\n- {name: echo, weight: 4}\n", encoding="utf-8")
    plan, _ = prepare(RunRequest(base=tmp_path, url="http://127.0.0.1:9/mcp", tools=("mix.yaml",)))
    assert [(t.name, t.weight) for t in plan.config.flow.tools] == [("ping", 1.0), ("echo", 4.0)]
