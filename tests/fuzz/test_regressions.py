"""One test per bug the bad-input fuzzing found: each input used to end in a traceback, a hang, a
message of several lines, or a message naming no field. Each now ends in one line with exit 104
(or a TemplateError for a call that cannot render), naming the field and file:line."""

from __future__ import annotations

import contextlib
import io
import random
import time
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from mcpgate.config import loader
from mcpgate.config.assemble import Overrides, assemble
from mcpgate.doors import action, cli
from mcpgate.support import exitcodes
from mcpgate.support.durations import parse_duration
from mcpgate.support.errors import UsageError
from mcpgate.workload.datasets import load_dataset
from mcpgate.workload.templates import ArgumentTemplate, CallContext, TemplateError

URL = "http://127.0.0.1:9/mcp"


def validate(tmp_path: Path, text: str | bytes) -> str:
    """``mcpgate validate`` on ``text``: its one error line, without the ``mcpgate: error:`` prefix."""
    path = tmp_path / "c.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", str(path)])
    assert code == exitcodes.INVALID_INPUT, out.getvalue()
    assert err.getvalue().count("\n") == 1, err.getvalue()
    assert err.getvalue().startswith("mcpgate: error: "), err.getvalue()
    return err.getvalue().removeprefix("mcpgate: error: ").rstrip("\n").replace(str(tmp_path) + "/", "")


def render(source: Any) -> Any:
    template = ArgumentTemplate({"x": source}, "args")
    return template.render(CallContext(1, 0, "s", random.Random(1), {"id": "r1"}))["x"]


def action_error(tmp_path: Path, **inputs: str) -> str:
    environ = {"INPUT_URL": URL, "GITHUB_WORKSPACE": str(tmp_path)}
    environ.update({f"INPUT_{name.upper()}": value for name, value in inputs.items()})
    stream = io.StringIO()
    with mock.patch.object(action, "_hand_sigterm_to_python", return_value=None):
        code = action.main(environ, stream)
    assert code == exitcodes.INVALID_INPUT, stream.getvalue()
    errors = [line for line in stream.getvalue().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stream.getvalue()
    return errors[0].removeprefix("error: mcpgate: invalid input: ")


TARGET = f"target: {{url: '{URL}'}}\n"


# --- durations ----------------------------------------------------------------------------------


def test_a_duration_too_large_for_a_float_is_an_error_not_overflow_or_infinity(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="finite number of seconds"):
        parse_duration(10**400)  # was OverflowError
    with pytest.raises(ValueError, match="finite number of seconds"):
        parse_duration("9" * 400 + "h")  # was inf, which then crashed the config digest
    assert validate(tmp_path, f"target: {{url: '{URL}', timeout: {10**400}}}\n").startswith("c.yaml:1: target.timeout:")


# --- the config file ----------------------------------------------------------------------------


def test_keys_with_line_breaks_or_control_characters_stay_on_one_line(tmp_path: Path) -> None:
    message = validate(tmp_path, TARGET + 'thresholds: {"a\\rb\\x1b[31m": 5}\n')
    assert message.startswith("c.yaml:2: thresholds.'a\\rb\\x1b[31m': ")  # was a raw CR and an escape sequence
    message = validate(tmp_path, TARGET + 'thresholds: {"\\n": ["avg<1"]}\n')
    assert message.startswith("c.yaml:2: thresholds.'\\n': metric ")


def test_every_usage_error_is_one_printable_line() -> None:
    assert str(UsageError("url", "bad 'a\nb\x00\u2028\ud800'")) == "url: bad 'a\\nb\\x00\\u2028\\ud800'"


def test_a_config_without_a_url_names_its_file_and_line(tmp_path: Path) -> None:
    assert (
        validate(tmp_path, "# a comment\ntarget: {}\n")
        == "c.yaml:2: target: missing required key 'url' (or give --url)"
    )


def test_deep_nesting_names_its_line(tmp_path: Path) -> None:
    assert validate(tmp_path, TARGET + "deep: " + "[" * 5000 + "\n") == "c.yaml:2: the document is nested too deeply"


def test_a_url_urlsplit_rejects_does_not_crash_the_error_message(tmp_path: Path) -> None:
    message = validate(tmp_path, "target: {url: 'http://127.0.0.1:80]00/mcp', timeout: x}\n")
    assert message.startswith("c.yaml:1: target.timeout: expected a duration")  # was ValueError: Invalid IPv6 URL


def test_a_nul_in_a_file_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a valid file name"):
        loader.load_config(Path("c\x00.yaml"))
    with pytest.raises(UsageError, match="not a valid file name"):
        load_dataset(tmp_path / "d\x00.json", "json", "datasets.d")
    message = validate(tmp_path, TARGET + 'datasets: {d: {file: "d\\0.json"}}\n')
    assert message.startswith("c.yaml:2: datasets.d: ")
    message = validate(tmp_path, f"target: {{url: '{URL}', ca_file: \"a\\0b\"}}\n")
    assert message.startswith("c.yaml:1: target.ca_file: ")


def test_plan_errors_name_the_file_and_line(tmp_path: Path) -> None:
    text = TARGET + "flow:\n  tools:\n    - {name: a, arguments: {q: '{{ vu '}}\n"
    assert validate(tmp_path, text).startswith("c.yaml:4: flow.tools[0].arguments.q: template syntax error")
    text = (
        TARGET
        + "scenarios: {s: {executor: constant-vus, duration: 1s}}\n"
        + "thresholds:\n  http_req_failed: ['rate<0.01']\n  'iterations{scenario:x}': ['count>0']\n"
    )
    assert validate(tmp_path, text) == "c.yaml:5: thresholds.iterations{scenario:x}: no scenario 'x'"
    assert (
        validate(tmp_path, TARGET + "thresholds: {nope: ['avg<1']}\n")
        == "c.yaml:2: thresholds.nope: unknown metric 'nope'"
    )
    assert validate(tmp_path, "target:\n  url: ftp://x\n").startswith("c.yaml:2: target.url: expected an http://")


def test_a_zero_connect_timeout_is_named(tmp_path: Path) -> None:
    message = validate(tmp_path, f"target:\n  url: {URL}\n  connect_timeout: 0s\n")
    assert message == "c.yaml:3: target.connect_timeout: must be more than 0"  # was "target.timeout: timeouts ..."


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("{executor: ramping-vus, stages: [{duration: 1s, target: .inf}]}", "expected a finite number"),  # int(inf)
        ("{executor: ramping-vus, stages: [{duration: 1s, target: 1e18}]}", "at most 100000"),  # planned VU by VU
        ("{executor: constant-vus, duration: 1s, vus: 100001}", "must be <= 100000"),
        ("{executor: constant-arrival-rate, duration: 1s, rate: .nan, pre_allocated_vus: 1}", "finite number"),
    ],
)
def test_infinite_or_huge_scenario_numbers_are_errors(tmp_path: Path, scenario: str, expected: str) -> None:
    started = time.perf_counter()
    message = validate(tmp_path, TARGET + f"scenarios: {{s: {scenario}}}\n")
    assert message.startswith("c.yaml:2: scenarios.s"), message
    assert expected in message, message
    assert time.perf_counter() - started < 2


def test_numbers_json_cannot_carry_are_errors(tmp_path: Path) -> None:
    assert validate(tmp_path, TARGET + f"seed: {10**30}\n").startswith("c.yaml:2: seed: must be <=")  # orjson crashed
    message = validate(tmp_path, TARGET + f"flow: {{tools: [{{name: a, arguments: {{n: {10**30}}}}}]}}\n")
    assert message == "c.yaml:2: flow.tools[0].arguments.n: cannot be sent as JSON: a number outside the 64-bit range"
    message = validate(tmp_path, TARGET + "flow: {tools: [{name: a, arguments: {b: !!binary aGk=}}]}\n")
    assert message == "c.yaml:2: flow.tools[0].arguments.b: cannot be sent as JSON: a bytes"


def test_scaling_malformed_scenarios_leaves_them_for_validation(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(TARGET + "scenarios:\n  s:\n    executor: ramping-vus\n    stages: [{target: 1}]\n")
    with pytest.raises(UsageError) as caught:  # was KeyError: 'duration'
        assemble(path, Overrides(duration=60.0))
    assert str(caught.value).startswith(f"{path}:5: scenarios.s.stages.0: missing required key 'duration'")


# --- templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}", "nested too deeply"),  # was RecursionError
        ("{{ " + "1" * 5000 + " }}", "a number with too many digits"),  # was ValueError
        ("{{ 'a'.format.format or 1 }}", "has no attribute 'format'"),  # folded while compiling: UndefinedError
    ],
)
def test_templates_that_cannot_compile_are_usage_errors(source: str, expected: str) -> None:
    with pytest.raises(UsageError, match=expected):
        ArgumentTemplate({"x": source}, "args")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ vu.__class__ }}", "not allowed in a template: access to attribute '__class__'"),  # was SecurityError
        ("{{ [row.missing] }}", "renders to a StrictUndefined, not a JSON value"),  # orjson failed at send
        ("{{ {1: 2} }}", "a mapping with a key that is not a string"),
        ("{{ 2 ** 64 }}", "a number outside the 64-bit range"),
    ],
)
def test_renders_that_json_cannot_carry_are_template_errors(source: str, expected: str) -> None:
    with pytest.raises(TemplateError, match=expected):
        render(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 10**10 }}",
        "{{ 9 ** 100000000 }}",  # used to hang while compiling: Jinja folds constants
        "{{ '%*d' % (10**10, 1) }}",
        "{{ '{:>10000000000}'.format(1) }}",
        "{{ 'a'.ljust(10**10) }}",
        "{{ 'a' | center(10**10) }}",
        "{{ [1] | batch(10**10, 0) | list }}",
        "{% for a in 'x' * 10000 %}{% for b in 'x' * 10000 %}{% endfor %}{% endfor %}",
        "{% set a = [1] %}" + "{% set a = [a, a, a, a] %}" * 30 + "{{ a ~ '' }}",
        "{% macro m0() %}x{% endmacro %}"
        + "".join(f"{{% macro m{i}() %}}{{{{ m{i - 1}() }}}}{{{{ m{i - 1}() }}}}{{% endmacro %}}" for i in range(1, 40))
        + "{{ m39() }}",
    ],
)
def test_templates_cannot_exhaust_memory_or_time(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError, match="not allowed in a template"):
        render(source)
    assert time.perf_counter() - started < 2


def test_bounded_templates_still_build_large_payloads() -> None:
    assert len(render("{{ 'x' * 500000 }}")) == 500_000
    assert render("{% for i in 'abc' %}{{ i }}{{ loop.index }}{% endfor %}") == "a1b2c3"
    assert render("{{ ([1, 2] * 3) | sum }}") == 9


def test_a_template_python_warns_about_warns_nothing() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ArgumentTemplate({"x": "{{ 10[1:] }}"}, "args")  # Python's compile warned "'int' object is not subscriptable"
    assert [str(w.message) for w in caught] == []  # on stderr, beside the one line validate prints


# --- flags --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--timeout=--"], "mcpgate run: argument --timeout: expected one argument"),  # was TypeError on a list
        (["--vus=--"], "mcpgate run: argument --vus: expected one argument"),
        (["--timeout=0s"], "--timeout: must be more than 0"),
        (["--vus", str(10**400)], "--vus: must be from 1 to 100000"),  # was OverflowError while scaling
        (["--out", "x" * 300], "--out: "),  # was OSError: File name too long
        (["--threshold", "data_sent=avg<1"], "--threshold: --threshold 'data_sent=avg<1': 'avg' does not apply"),
    ],
)
def test_bad_flags_are_one_line_naming_the_flag(flags: list[str], expected: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["run", "--url", URL, *flags])
    assert code == exitcodes.INVALID_INPUT
    assert err.getvalue().startswith(f"mcpgate: error: {expected}"), err.getvalue()
    assert err.getvalue().count("\n") == 1, err.getvalue()


# --- action inputs, as docker run passes them (named by their variables) ---------------------------


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"results-dir": "/proc/mcpgate-nope"}, "INPUT_RESULTS-DIR: cannot create"),  # was FileNotFoundError
        ({"results-dir": "out\x00dir"}, "INPUT_RESULTS-DIR: must be one line"),  # was ValueError: embedded null byte
        ({"config": "a.yaml\n.."}, "INPUT_CONFIG: must be one line"),  # was a message of two lines
        ({"baseline": "b" * 300}, "INPUT_BASELINE: "),  # was OSError: File name too long
        (
            {"protocol-version": "2025-06-19"},
            "INPUT_PROTOCOL-VERSION: expected one of auto, ",
        ),  # was flags:1: target...
        ({"duration": "0s"}, "INPUT_DURATION: must be more than 0"),  # was flags:1: scenarios.smoke: ...
        ({"bearer-token": "a\nb"}, "INPUT_BEARER-TOKEN: must be one line"),  # was target.bearer_token: ...
        ({"tools": "get_record: -1"}, "INPUT_TOOLS (line 1): weight: must be > 0"),  # was flags:1: flow.tools.0.weight
        ({"tools": "get_record: nan"}, "INPUT_TOOLS (line 1): weight: expected a finite number"),
        ({"tools": 'get_record {"id": "{{ vu "}'}, "INPUT_TOOLS (line 1): arguments.id: template syntax error"),
        ({"tools": "t.yaml"}, "INPUT_TOOLS: t.yaml: not valid UTF-8"),  # was UnicodeDecodeError
        (
            {"thresholds": "data_sent: avg<1"},
            "INPUT_THRESHOLDS (line 1): 'avg' does not apply",
        ),  # was flags: thresholds
        ({"max-regression": "nan"}, "INPUT_MAX-REGRESSION: expected a percentage between 0% and 1000%"),  # was accepted
        ({"vus": "9" * 400}, "INPUT_VUS: must be from 1 to 100000"),
        ({"url": "http://127.0.0.1:9/mcp\nX: y"}, "INPUT_URL: "),  # was accepted: urlsplit drops the line break
    ],
)
def test_bad_action_inputs_are_one_line_naming_the_input(tmp_path: Path, inputs: dict[str, str], expected: str) -> None:
    (tmp_path / "t.yaml").write_bytes(b"- {name: \xff}\n")
    assert action_error(tmp_path, **inputs).startswith(expected)
