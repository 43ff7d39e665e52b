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

from mcpgate.app.requests import RUN_OPTIONS, Option
from mcpgate.doors.cli import main, words
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
