"""Bad input never crashes mcpgate: 10,200 generated inputs, each through a real entry point.

Every malformed config, threshold, duration, template, dataset and action input must either be
accepted or end in one line naming the field (``FILE:LINE:`` for a config file) with exit 104;
no other exception may escape. Examples per category (``EXAMPLES``; the last test checks the sum):

    configs: examples/mcpgate.yaml mutated, through ``mcpgate validate``        700
    thresholds, config form: through validation and the plan                  2,600
    thresholds, --threshold form: through ``mcpgate run`` up to the load       1,000
    durations: the parser, the config, a flag and an action input each         1,200
    argument templates: compiled, then rendered within bounds                  1,500
    datasets: JSON, JSONL, CSV files, one in ten through ``mcpgate validate``  1,400
    action inputs: INPUT_* maps through ``mcpgate.doors.action.main``                 1,800
                                                                             ------
                                                                             10,200

"Up to the load": ``run`` and the action go as far as they would before sending traffic (the
run itself is replaced by a stub). Hypothesis runs derandomized, without an example database, so
CI sees the same inputs every time; the module takes about 45 s.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpgate.config.assemble import Assembled
from mcpgate.config.loader import validate_config
from mcpgate.doors import action, cli
from mcpgate.plan.build import build_plan
from mcpgate.support import exitcodes
from mcpgate.support.durations import parse_duration
from mcpgate.support.errors import UsageError
from mcpgate.workload.datasets import load_dataset
from mcpgate.workload.templates import ArgumentTemplate, CallContext, TemplateError
from tests.fuzz import strategies as bad

EXAMPLES = {
    "config": 700,
    "threshold_config": 2_600,
    "threshold_cli": 1_000,
    "duration": 1_200,
    "template": 1_500,
    "dataset": 1_400,
    "action": 1_800,
}
TOTAL = 10_000  # at least this many generated bad inputs in all
RAN: Counter[str] = Counter()  # examples each test actually ran, for the last test

URL = "http://127.0.0.1:9/mcp"
PREFIX = "mcpgate: error: "
WHERE = "flow.tools[0].arguments"
RENDER_SECONDS = 3.0  # a template renders or is refused by then, however hostile (the guard stops at 1 s)


def fuzz(name: str) -> settings:
    """Repeatable settings for one category."""
    return settings(
        max_examples=EXAMPLES[name],
        database=None,
        deadline=None,
        derandomize=True,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- the shared checks --------------------------------------------------------------------------


def assert_one_line(message: str) -> None:
    assert message, "an empty error message"
    assert len(message.splitlines()) == 1, repr(message)
    assert "\n" not in message, repr(message)
    assert "\r" not in message, repr(message)


def assert_names(message: str, pattern: str) -> None:
    assert_one_line(message)
    assert re.match(pattern, message), f"{message!r} does not start with {pattern!r}"


def assert_no_secret(text: str) -> None:
    assert bad.SECRET_VALUE not in text, text
    assert bad.FILE_SECRET not in text, text
    assert "root:x:0:0" not in text, text


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def cli_error(code: int, out: str, err: str, *, secret_allowed: bool = False) -> str | None:
    """None when the command succeeded; else the message of its one ``mcpgate: error:`` line.

    ``secret_allowed``: the input itself wrote ``${MCPGATE_FUZZ_SECRET}`` into a plain value, which
    an error about that value may repeat as it repeats any value.
    """
    if code == exitcodes.OK:
        assert err == "", err
        return None
    assert code == exitcodes.INVALID_INPUT, (code, out, err)
    assert err.endswith("\n"), repr(err)
    assert err.count("\n") == 1, repr(err)
    assert err.startswith(PREFIX), repr(err)
    message = err[len(PREFIX) : -1]
    assert_one_line(message)
    if not secret_allowed:
        assert_no_secret(message)
    return message


class Accepted(Exception):
    """Raised instead of starting a load test: the input got all the way to the run."""


async def _no_run(*args: Any, **kwargs: Any) -> Any:
    raise Accepted


def run_flags(*flags: str) -> str | None:
    """``mcpgate run --url ... FLAGS`` up to the moment it would send traffic: None if it got there."""
    with mock.patch("mcpgate.app.verbs.run_plan", _no_run):
        try:
            code, out, err = run_cli(["run", "--url", URL, "--no-progress", *flags])
        except Accepted:
            return None
    message = cli_error(code, out, err)
    assert message is not None, "run returned 0 without running"
    return message


def plan_from_data(data: dict[str, Any], workdir: Path, source: str = "fuzz.yaml") -> None:
    """The last steps of ``assemble`` and then ``build_plan``, for config data made in memory."""
    config = validate_config(data, {}, source)
    build_plan(Assembled(config, source, workdir, None, (), lines={}))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with the files the strategies name, and an environment without MCP_* variables."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "secret.txt").write_text(bad.FILE_SECRET)
    (root / "good.yaml").write_text(
        "target: {url: 'http://127.0.0.1:9/mcp'}\n"
        "flow: {tools: [{name: get_record, arguments: {id: 'rec_{{ randint(0, 9) }}'}}]}\n"
        "thresholds: {mcp_tool_duration: ['p(95)<3000']}\n"
    )
    (root / "bad.yaml").write_text("target: [\n  url: :\n")
    (root / "tools.yaml").write_text("- {name: get_record, weight: 2, arguments: {id: '{{ vu }}'}}\n")
    (root / "notlist.json").write_text('{"a": 1}')
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MCP_URL", "MCP_TOKEN", "MCPGATE_BEARER_TOKEN", bad.UNSET, "GITHUB_ACTIONS"):
            patch.delenv(name, raising=False)
        patch.setenv(bad.SECRET_ENV, bad.SECRET_VALUE)
        patch.chdir(root)
        yield root


# --- 1. config files ----------------------------------------------------------------------------


@fuzz("config")
@given(case=bad.config_text())
def test_mutated_configs_fail_with_file_and_line(workdir: Path, case: tuple[bytes, bytes | None, str]) -> None:
    RAN["config"] += 1
    text, dataset, dataset_name = case
    path = workdir / "mcpgate.yaml"
    path.write_bytes(text)
    if dataset is not None:
        (workdir / dataset_name).write_bytes(dataset)
    code, out, err = run_cli(["validate", str(path)])
    message = cli_error(code, out, err, secret_allowed=b"${" + bad.SECRET_ENV.encode() in text)
    if message is None:
        assert out.startswith(f"{path}: ok ("), out
        assert out.count("\n") == 1, out
    else:
        assert_names(message, re.escape(str(path)) + r":\d+(:\d+)?: ")


# --- 2. thresholds ------------------------------------------------------------------------------


@fuzz("threshold_config")
@given(key=bad.metric_key(), items=bad.threshold_items())
def test_config_thresholds_fail_naming_the_key(workdir: Path, key: str, items: Any) -> None:
    RAN["threshold_config"] += 1
    data = {
        "target": {"url": URL},
        "scenarios": {"mcp_load": {"executor": "constant-vus", "duration": "1s"}},
        "thresholds": {key: items},
    }
    try:
        plan_from_data(data, workdir)
    except UsageError as exc:
        assert_names(str(exc), r"fuzz\.yaml:\d+: thresholds\b")


@fuzz("threshold_cli")
@given(texts=st.lists(bad.cli_threshold(), min_size=1, max_size=2))
def test_cli_thresholds_fail_naming_the_flag(workdir: Path, texts: list[str]) -> None:
    RAN["threshold_cli"] += 1
    flags = [f"--threshold={text}" for text in texts]
    message = run_flags(*flags)
    if message is not None:
        # A scenario tag is checked against the run's scenarios, with the rest of the plan.
        assert_names(message, r"(--threshold: |mcpgate run: argument --threshold: |thresholds\.\S+: no scenario )")


# --- 3. durations -------------------------------------------------------------------------------

_DURATION_PATHS = [
    ("target", "timeout"),
    ("target", "connect_timeout"),
    ("flow", "think_time"),
    ("scenarios", "s", "duration"),
    ("scenarios", "s", "start_time"),
    ("scenarios", "s", "graceful_stop"),
    ("scenarios", "r", "stages", 0, "duration"),
    ("scenarios", "a", "time_unit"),
    ("scenarios", "a", "duration"),
    ("thresholds", "iterations", 0, "delay_abort_eval"),
]


def _timed_config(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "target": {"url": URL},
        "flow": {},
        "scenarios": {
            "s": {"executor": "constant-vus", "duration": "1s"},
            "r": {"executor": "ramping-vus", "stages": [{"duration": "1s", "target": 1}]},
            "a": {"executor": "constant-arrival-rate", "rate": 1, "duration": "1s", "pre_allocated_vus": 1},
        },
        "thresholds": {"iterations": [{"threshold": "count>0", "abort_on_fail": True}]},
    }
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


@fuzz("duration")
@given(
    text=bad.duration_text(),
    value=bad.duration_value(),
    where=st.sampled_from(_DURATION_PATHS),
    flag=st.sampled_from(["--duration", "--timeout", "--connect-timeout", "--interval", "--drift-window"]),
    name=st.sampled_from(["duration", "monitor-wait", "monitor-interval", "monitor-timeout", "drift-window"]),
)
def test_durations_fail_naming_the_field(
    workdir: Path, *, text: str, value: Any, where: tuple[Any, ...], flag: str, name: str
) -> None:
    RAN["duration"] += 1
    # The parser itself: a finite number of seconds >= 0, or a one-line ValueError.
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        assert_one_line(str(exc))
    else:
        assert math.isfinite(seconds), (text, seconds)
        assert seconds >= 0, (text, seconds)
    # The config, as text and as whatever type YAML gave.
    for given_value in (text, value):
        try:
            plan_from_data(_timed_config(where, given_value), workdir)
        except UsageError as exc:
            field = re.escape(".".join(str(part) for part in where[:-1]))
            assert_names(str(exc), rf"fuzz\.yaml(:\d+)?: ({field}|scenarios|thresholds)\b")
    # A flag.
    message = run_flags(f"{flag}={text}")
    if message is not None:
        assert_names(message, rf"(mcpgate run: argument {flag}: |{flag}: )")
    # An action input.
    try:
        action.parse_inputs({"INPUT_URL": URL, f"INPUT_{name.upper()}": text}, workdir)
    except UsageError as exc:
        assert_names(str(exc), rf"{name}: ")


# --- 4. argument templates ----------------------------------------------------------------------


def _render_context(seed: int) -> CallContext:
    row = {"id": "rec_1", "q": "query", "n": [1, 2, {"deep": "x"}]}
    return CallContext(vu=1, iteration=0, scenario="mcp_load", rng=random.Random(seed), row=row)


@fuzz("template")
@given(source=bad.template_source(), seed=st.integers(0, 2**32))
def test_templates_are_sandboxed_and_bounded(workdir: Path, source: str, seed: int) -> None:
    RAN["template"] += 1
    started = time.perf_counter()
    try:
        template = ArgumentTemplate({"x": 1, "nested": {"list": [1, source]}}, WHERE)
    except UsageError as exc:
        assert_names(str(exc), re.escape(WHERE) + r"\.nested\.list\[1\]: ")
        assert_no_secret(str(exc))
        return
    finally:
        assert time.perf_counter() - started < RENDER_SECONDS, f"compiling took too long: {source!r}"
    started = time.perf_counter()
    try:
        rendered = template.render(_render_context(seed))
    except TemplateError as exc:
        assert_names(str(exc), re.escape(WHERE) + r"\.nested\.list\[1\]: ")
        assert_no_secret(str(exc))
    else:
        body = orjson.dumps(rendered).decode()  # as the JSON-RPC request will carry it
        assert_no_secret(body)
    assert time.perf_counter() - started < RENDER_SECONDS, f"rendering took too long: {source!r}"


# --- 5. datasets --------------------------------------------------------------------------------


@fuzz("dataset")
@given(
    content=bad.dataset_bytes(),
    name=st.sampled_from(bad.DATASET_NAMES),
    fmt=st.sampled_from(bad.DATASET_FORMATS),
)
def test_datasets_fail_naming_file_and_line(workdir: Path, content: bytes, name: str, fmt: str) -> None:
    RAN["dataset"] += 1
    path = workdir / name
    path.write_bytes(content)
    try:
        rows = load_dataset(path, fmt, "datasets.d")
    except UsageError as exc:
        assert_names(str(exc), rf"datasets\.d: ({re.escape(str(path))}(:\d+)?: |format must be )")
    else:
        assert rows
        assert all(isinstance(row, dict) for row in rows)
    if RAN["dataset"] % 10 == 0:  # and one in ten through the whole validate path, with a tool that uses the row
        config = workdir / "with-data.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "target": {"url": URL},
                    "datasets": {"d": {"file": name, "format": fmt}},
                    "flow": {"tools": [{"name": "t", "dataset": "d", "arguments": {"id": "{{ row.id }}"}}]},
                }
            )
        )
        message = cli_error(*run_cli(["validate", str(config)]))
        if message is not None:
            assert_names(message, re.escape(str(config)) + r":\d+: datasets\.d: ")


# --- 6. action inputs ---------------------------------------------------------------------------


@fuzz("action")
@given(environ=bad.action_environ())
def test_action_inputs_fail_naming_the_input(workdir: Path, environ: dict[str, str]) -> None:
    RAN["action"] += 1
    environ = {**environ, "GITHUB_WORKSPACE": str(workdir)}
    stream = io.StringIO()
    with (
        mock.patch.object(action, "run_plan", _no_run),
        mock.patch.object(action, "_smoke", mock.Mock(side_effect=Accepted)),
        mock.patch.object(action, "_monitor", mock.Mock(side_effect=Accepted)),
        mock.patch.object(action, "_hand_sigterm_to_python", return_value=None),
    ):
        try:
            code = action.main(environ, stream)
        except Accepted:
            return
    assert code == exitcodes.INVALID_INPUT, (code, stream.getvalue())
    lines = stream.getvalue().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    assert all(line.startswith(("error: ", "notice: ")) for line in lines), lines
    assert errors[0].startswith("error: mcpgate: invalid input: "), lines
    message = errors[0].removeprefix("error: mcpgate: invalid input: ")
    # Outside GitHub (docker run -e), an input is named by the variable that carried it.
    variables = {f"INPUT_{name.upper()}" for name in bad.ACTION_INPUTS}
    variables |= {v.replace("-", "_") for v in variables}
    names = "|".join(re.escape(name) for name in sorted(variables, key=len, reverse=True))
    assert_names(message, rf"(({names})( \(line \d+\))?: |/\S*?(:\d+)?: )")
    assert_no_secret(message)


# --- the count ----------------------------------------------------------------------------------


def test_the_fuzz_tests_generated_at_least_10000_bad_inputs() -> None:
    assert sum(EXAMPLES.values()) >= TOTAL
    if set(RAN) != set(EXAMPLES):
        pytest.skip("only some of the fuzz tests ran")
    assert sum(RAN.values()) >= TOTAL, RAN
