from __future__ import annotations

import textwrap
from pathlib import Path

import pydantic
import pytest

from mcpgate.config.loader import (
    MAX_CONFIG_BYTES,
    format_validation_error,
    load_config,
    load_yaml,
    load_yaml_text,
    validate_config,
)
from mcpgate.config.models import Config, ConstantArrivalRate, RampingVus
from mcpgate.support.errors import UsageError


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def error_of(text: str, source: str = "mcpgate.yaml") -> str:
    """The one line a user sees for ``text``, loaded and validated."""
    data, lines = load_yaml_text(doc(text), source)
    with pytest.raises(UsageError) as caught:
        validate_config(data, lines, source)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- YAML -----------------------------------------------------------------------------------------


def test_line_map_records_keys_and_items() -> None:
    data, lines = load_yaml_text(
        doc("""
            target:
              url: http://127.0.0.1/mcp
            scenarios:
              load:
                executor: ramping-vus
                stages:
                  - duration: 10s
                    target: 5
                  - {duration: 20s, target: 0}
            """),
        "c.yaml",
    )
    assert data["scenarios"]["load"]["stages"][1] == {"duration": "20s", "target": 0}
    assert lines[()] == 1
    assert lines[("target",)] == 1
    assert lines[("target", "url")] == 2
    assert lines[("scenarios", "load", "stages")] == 6
    assert lines[("scenarios", "load", "stages", 0)] == 7
    assert lines[("scenarios", "load", "stages", 0, "target")] == 8
    assert lines[("scenarios", "load", "stages", 1, "duration")] == 9


def test_duplicate_key_at_a_nested_level_names_both_lines() -> None:
    text = """
        target:
          url: http://127.0.0.1/mcp
        thresholds:
          mcp_tool_duration: ["p(95)<500"]
          mcp_tool_errors: ["rate<0.01"]
          mcp_tool_duration: ["p(99)<900"]
        """
    with pytest.raises(UsageError) as caught:
        load_yaml_text(doc(text), "mcpgate.yaml")
    assert str(caught.value) == "mcpgate.yaml:6: duplicate key 'mcp_tool_duration' (first at line 4)"
    assert caught.value.field == "mcpgate.yaml:6"


def test_duplicate_key_quoted_or_in_flow_style_is_the_same_key() -> None:
    with pytest.raises(UsageError, match=r"c.yaml:1: duplicate key 'a' \(first at line 1\)"):
        load_yaml_text('x: {a: 1, "a": 2}\n', "c.yaml")


def test_keys_are_the_text_written() -> None:
    data, _ = load_yaml_text("headers:\n  on: 1\n  1: 2\n  null: 3\n", "c.yaml")
    assert data == {"headers": {"on": 1, "1": 2, "null": 3}}


def test_dates_stay_strings() -> None:
    data, _ = load_yaml_text("target: {url: x, protocol_version: 2025-06-18}\n", "c.yaml")
    assert data["target"]["protocol_version"] == "2025-06-18"
    assert validate_config(data, {}, "c.yaml").target.protocol_version == "2025-06-18"


def test_merge_keys_fill_in_and_explicit_keys_win() -> None:
    data, lines = load_yaml_text(
        doc("""
            target: {url: x}
            scenarios:
              a: &base {executor: constant-vus, vus: 2, duration: 10s}
              b:
                <<: *base
                vus: 5
            """),
        "c.yaml",
    )
    assert data["scenarios"]["b"] == {"vus": 5, "executor": "constant-vus", "duration": "10s"}
    assert lines[("scenarios", "b", "vus")] == 6
    assert lines[("scenarios", "b", "executor")] == 3


def test_alias_that_contains_itself_is_an_error() -> None:
    with pytest.raises(UsageError, match=r"^c.yaml:1: an alias refers to a value that contains it$"):
        load_yaml_text("a: &a [1, *a]\n", "c.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("target:\n  url: x\n bad: [\n", r"^c.yaml:3:2: expected <block end>, but found '<block mapping start>'$"),
        ("target:\n\turl: x\n", r"^c.yaml:2:1: found character '\\t' that cannot start any token$"),
        ("a: 1\n---\nb: 2\n", r"^c.yaml:2:1: expected a single document in the stream, but found another document$"),
        ("target: \x07\n", r"^c.yaml:1:9: character #x0007 is not allowed in YAML$"),
        ("target: !secret x\n", r"^c.yaml:1:9: could not determine a constructor for the tag '!secret'$"),
        ("x: !!set {a, b}\n", r"^c.yaml:1: unsupported YAML tag tag:yaml.org,2002:set$"),
        ("? [a]\n: 1\n", r"^c.yaml:1: a key must be a plain value, not a list or a mapping$"),
    ],
)
def test_syntax_errors_are_one_line_with_position(text: str, expected: str) -> None:
    with pytest.raises(UsageError, match=expected):
        load_yaml_text(text, "c.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- target\n", r"^c.yaml:1: the top level must be a mapping of keys like 'target:', got a list$"),
        ("just text\n", r"^c.yaml:1: the top level must be a mapping .* got a plain value$"),
        ("", r"^c.yaml:1: the file is empty"),
        ("# only a comment\n", r"^c.yaml:1: the file is empty"),
    ],
)
def test_top_level_must_be_a_mapping(text: str, expected: str) -> None:
    with pytest.raises(UsageError, match=expected):
        load_yaml_text(text, "c.yaml")


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(UsageError, match=r"^c.yaml:1: the document is nested too deeply$"):
        load_yaml_text("a: " + "[" * 600 + "]" * 600 + "\n", "c.yaml")


# --- environment ----------------------------------------------------------------------------------


def test_env_variables_set_default_and_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TOKEN", "s3cret-value")
    monkeypatch.setenv("MCP_HOST", "127.0.0.1")
    monkeypatch.delenv("MCP_PORT", raising=False)
    monkeypatch.delenv("MCP_EMPTY_DEFAULT", raising=False)
    data, _ = load_yaml_text(
        doc("""
            target:
              url: "http://${MCP_HOST}:${MCP_PORT:-8000}/mcp"
              bearer_token: ${MCP_TOKEN}
              headers:
                X-Literal: "$${MCP_TOKEN} and $$ and $5"
                X-Empty: "[${MCP_EMPTY_DEFAULT:-}]"
                X-Set-Wins: ${MCP_HOST:-ignored}
            """),
        "c.yaml",
    )
    target = data["target"]
    assert target["url"] == "http://127.0.0.1:8000/mcp"
    assert target["bearer_token"] == "s3cret-value"
    assert target["headers"] == {"X-Literal": "${MCP_TOKEN} and $$ and $5", "X-Empty": "[]", "X-Set-Wins": "127.0.0.1"}


def test_env_variable_missing_names_it_and_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCP_TOKEN", raising=False)
    with pytest.raises(UsageError) as caught:
        load_yaml_text("target:\n  url: x\n  bearer_token: ${MCP_TOKEN}\n", "mcpgate.yaml")
    assert str(caught.value) == "mcpgate.yaml:3: environment variable MCP_TOKEN is not set"


def test_env_substitution_is_for_string_values_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY", "replaced")
    data, _ = load_yaml_text("headers:\n  ${KEY}: ${KEY}\nn: 5\n", "c.yaml")
    assert data == {"headers": {"${KEY}": "replaced"}, "n": 5}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("'${OPEN'", "unclosed '\\$\\{'"), ("'${1BAD}'", "bad variable reference '\\$\\{1BAD\\}'")],
)
def test_bad_env_references(value: str, expected: str) -> None:
    with pytest.raises(UsageError, match=f"^c.yaml:2: {expected}"):
        load_yaml_text(f"a: 1\nb: {value}\n", "c.yaml")


# --- files ----------------------------------------------------------------------------------------


def test_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope.yaml: no such file$"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(UsageError, match=r": is a directory, not a config file$"):
        load_yaml(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(UsageError, match=r"big.yaml: is 1048577 bytes; a config file may be at most 1 MiB$"):
        load_yaml(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"target:\n  url: caf\xe9\n")
    with pytest.raises(UsageError) as caught:
        load_yaml(latin)
    assert str(caught.value) == f"{latin}:2: not valid UTF-8 (byte 0xe9); save the file as UTF-8"


def test_load_config_reads_a_full_file(tmp_path: Path) -> None:
    path = tmp_path / "mcpgate.yaml"
    path.write_bytes(
        "\ufeff".encode()
        + doc("""
            target:
              url: http://127.0.0.1:8000/mcp
              timeout: 5s
            flow:
              think_time: 0.5s..2s
              tools:
                - name: get_record
                  arguments: {id: "rec_{{ randint(0, 999) }}"}
                - name: search_records
                  arguments: auto
            scenarios:
              ramp:
                executor: ramping-vus
                startVUs: 1
                stages: [{duration: 30s, target: 10}, {duration: 1m, target: 0}]
              rate:
                executor: constant-arrival-rate
                rate: 20
                duration: 1m
                preAllocatedVUs: 5
            thresholds:
              mcp_tool_duration: ["p(95)<500", {threshold: "p(99)<900", abortOnFail: true}]
            """).encode()
    )
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.target.timeout == 5.0
    ramp = config.scenarios["ramp"]
    assert isinstance(ramp, RampingVus)
    assert ramp.stages[1].duration == 60.0
    rate = config.scenarios["rate"]
    assert isinstance(rate, ConstantArrivalRate)
    assert rate.pre_allocated_vus == 5
    assert config.flow.tools[1].arguments == "auto"


def test_load_config_reports_validation_errors_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mcpgate.yaml"
    path.write_text("target:\n  url: x\n  timeout: 5x\n")
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert caught.value.field == f"{path}:3"
    assert caught.value.message == "target.timeout: expected a duration like 500ms, 30s, 2m or 1h30m, got '5x'"


# --- validation errors ----------------------------------------------------------------------------


def test_unknown_key_suggests_the_field() -> None:
    message = error_of("""
        target:
          url: http://127.0.0.1/mcp
          timout: 3s
        """)
    assert message == "mcpgate.yaml:3: target: unknown key 'timout' (did you mean 'timeout'?)"


def test_unknown_key_suggests_camel_case_aliases_and_top_level_names() -> None:
    message = error_of("""
        target: {url: x}
        scenarios:
          a:
            executor: constant-arrival-rate
            rate: 1
            duration: 1s
            preAllocatedVU: 2
        """)
    assert message.startswith("mcpgate.yaml:7: scenarios.a: unknown key 'preAllocatedVU' (did you mean")
    assert "'preAllocatedVUs'" in message
    assert error_of("tagret:\n  url: x\n") == (
        "mcpgate.yaml:1: unknown key 'tagret' (did you mean 'target'?) (and 1 more)"
    )


def test_bad_duration_in_a_stage_points_at_its_line() -> None:
    message = error_of("""
        target:
          url: http://127.0.0.1/mcp
        scenarios:
          mcp_load:
            executor: ramping-vus
            stages:
              - duration: 30s
                target: 5
              - duration: 5x
                target: 0
        """)
    assert message == (
        "mcpgate.yaml:9: scenarios.mcp_load.stages.1.duration: "
        "expected a duration like 500ms, 30s, 2m or 1h30m, got '5x'"
    )


def test_missing_url_points_at_target() -> None:
    assert error_of("flow: {}\ntarget:\n  timeout: 1s\n") == "mcpgate.yaml:2: target: missing required key 'url'"


def test_misspelt_key_comes_before_the_missing_one() -> None:
    assert error_of("target:\n  ulr: x\n") == (
        "mcpgate.yaml:2: target: unknown key 'ulr' (did you mean 'url'?) (and 1 more)"
    )


def test_wrong_executor_lists_the_executors() -> None:
    message = error_of("""
        target: {url: x}
        scenarios:
          a:
            vus: 2
            executor: constant-vu
        """)
    assert message == (
        "mcpgate.yaml:5: scenarios.a.executor: expected one of constant-vus, ramping-vus, "
        "constant-arrival-rate, ramping-arrival-rate, got 'constant-vu' (did you mean 'constant-vus'?)"
    )


def test_missing_executor() -> None:
    message = error_of("target: {url: x}\nscenarios:\n  a:\n    vus: 2\n")
    assert message.startswith("mcpgate.yaml:3: scenarios.a: missing required key 'executor' (one of constant-vus,")


def test_errors_inside_a_scenario_drop_the_executor_tag_from_the_path() -> None:
    message = error_of("""
        target: {url: x}
        scenarios:
          a:
            executor: constant-vus
            duration: 1s
            vus: many
        """)
    assert message == "mcpgate.yaml:6: scenarios.a.vus: expected a whole number, got 'many'"


def test_camel_case_key_is_reported_as_written() -> None:
    message = error_of("""
        target: {url: x}
        scenarios:
          a:
            executor: constant-arrival-rate
            rate: 1
            duration: 1s
            preAllocatedVUs: 0
        """)
    assert message == "mcpgate.yaml:7: scenarios.a.preAllocatedVUs: must be >= 1, got 0"


def test_literal_error_lists_the_choices() -> None:
    message = error_of("target:\n  url: x\n  transport: http\n")
    assert message == "mcpgate.yaml:3: target.transport: expected 'auto', 'streamable-http' or 'sse', got 'http'"


def test_union_errors_are_merged_or_the_deeper_one_wins() -> None:
    assert error_of("target: {url: x}\nflow:\n  tools:\n    - name: a\n      arguments: autoo\n") == (
        "mcpgate.yaml:5: flow.tools.0.arguments: expected a mapping or 'auto', got 'autoo'"
    )
    assert error_of("target: {url: x}\nthresholds:\n  m:\n    - 5\n") == (
        "mcpgate.yaml:4: thresholds.m.0: expected a string or a mapping, got 5"
    )
    assert error_of("target: {url: x}\nthresholds:\n  m:\n    - threshold: p(95)<5\n      bogus: 1\n") == (
        "mcpgate.yaml:5: thresholds.m.0: unknown key 'bogus'"
    )


def test_secret_values_are_masked() -> None:
    message = error_of("target:\n  url: x\n  bearer_token: [not, a, string]\n")
    assert message == "mcpgate.yaml:3: target.bearer_token: expected a string, got ***"
    message = error_of("target:\n  url: x\n  bearer_token: Bearer abcdef123\n  timeout: Bearer abcdef123\n")
    assert "abcdef123" not in message
    assert message == "mcpgate.yaml:4: target.timeout: expected a duration like 500ms, 30s, 2m or 1h30m, got '***'"


def test_long_values_are_cut() -> None:
    message = error_of(f"target:\n  url: x\n  timeout: {'x' * 100}\n")
    assert "x" * 41 not in message
    assert message.endswith("got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (100 characters)")


def test_error_count_and_earliest_line_first() -> None:
    message = error_of("target:\n  url: x\nflow:\n  calls_per_session: -1\n  bogus: 1\nseed: abc\n")
    assert message == "mcpgate.yaml:4: flow.calls_per_session: must be >= 0, got -1 (and 2 more)"


def test_format_validation_error_matches_validate_config() -> None:
    data, lines = load_yaml_text("target:\n  url: x\n  timeout: 5x\n", "c.yaml")
    with pytest.raises(pydantic.ValidationError) as caught:
        Config.model_validate(data)
    line = format_validation_error(caught.value, lines, "c.yaml")
    assert line == "c.yaml:3: target.timeout: expected a duration like 500ms, 30s, 2m or 1h30m, got '5x'"


# --- flow: session shape and streams --------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow", "expected"),
    [
        ("  session_lifetime: 5m\n", "mcpgate.yaml:4: flow.session_lifetime: applies to session: per-vu only"),
        ("  session: per-vu\n  session_lifetime: 0s\n", "mcpgate.yaml:5: flow.session_lifetime: must be more than 0"),
        (
            "  session: per-agent\n",
            "mcpgate.yaml:4: flow.session: expected 'per-iteration' or 'per-vu', got 'per-agent'",
        ),
        ("  listen: sometimes\n", "mcpgate.yaml:4: flow.listen: expected true or false or 'auto', got 'sometimes'"),
        (
            "  stream_idle_timeout: -1s\n",
            "mcpgate.yaml:4: flow.stream_idle_timeout: expected a duration like 500ms, 30s, 2m or 1h30m, got '-1s'",
        ),
    ],
)
def test_flow_session_and_stream_keys_are_checked(flow: str, expected: str) -> None:
    assert error_of(f"target:\n  url: x\nflow:\n{flow}") == expected


def test_calls_per_session_defaults_by_session_shape() -> None:
    def flow_of(text: str) -> Config:
        data, lines = load_yaml_text(doc(text), "c.yaml")
        return validate_config(data, lines, "c.yaml")

    per_iteration = flow_of("target: {url: x}\n").flow
    assert (per_iteration.session, per_iteration.calls, per_iteration.listen) == ("per-iteration", 1, "auto")
    assert per_iteration.stream_idle_timeout == 45.0
    per_vu = flow_of("target: {url: x}\nflow: {session: per-vu, session_lifetime: 2m, listen: false}\n").flow
    assert (per_vu.calls, per_vu.session_lifetime, per_vu.listen) == (None, 120.0, False)  # no limit but the lifetime
    holding = flow_of("target: {url: x}\nflow: {session: per-vu, calls_per_session: 0, stream_idle_timeout: 0}\n").flow
    assert (holding.calls, holding.stream_idle_timeout) == (0, 0.0)
