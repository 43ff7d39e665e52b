from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mcpgate.support.errors import UsageError
from mcpgate.workload.datasets import RowPicker, load_dataset
from mcpgate.workload.synthesize import synthesize_arguments
from mcpgate.workload.templates import ArgumentTemplate, CallContext, TemplateError

WHERE = "flow.tools[0].arguments"


def ctx(vu: int = 1, iteration: int = 0, seed: int = 1, row: dict[str, Any] | None = None) -> CallContext:
    return CallContext(vu=vu, iteration=iteration, scenario="mcp_load", rng=random.Random(seed), row=row)


# --- templates ------------------------------------------------------------------------------------


def test_constant_arguments_render_one_shared_dict() -> None:
    template = ArgumentTemplate({"query": "test", "limit": 10, "nested": {"a": [1, "b"]}}, WHERE)
    assert template.is_constant
    first = template.render(ctx())
    assert first == {"query": "test", "limit": 10, "nested": {"a": [1, "b"]}}
    assert template.render(ctx(vu=2)) is first


def test_single_expression_renders_its_native_value() -> None:
    template = ArgumentTemplate(
        {"n": "{{ randint(0, 9) }}", "items": "{{ [vu, iteration] }}", "f": "{{ random() }}", "ok": "{{ vu > 0 }}"},
        WHERE,
    )
    assert not template.is_constant
    out = template.render(ctx(vu=3, iteration=4))
    assert isinstance(out["n"], int)
    assert 0 <= out["n"] <= 9
    assert out["items"] == [3, 4]
    assert isinstance(out["f"], float)
    assert out["ok"] is True


def test_mixed_text_renders_a_string() -> None:
    template = ArgumentTemplate({"id": "rec_{{ randint(0, 0) }}", "who": "{{ scenario }}/vu{{ vu }}"}, WHERE)
    assert template.render(ctx(vu=7)) == {"id": "rec_0", "who": "mcp_load/vu7"}


def test_call_context_values_and_row() -> None:
    template = ArgumentTemplate(
        {"id": "{{ row.id }}", "query": "{{ row['q'] | upper }}", "tag": "{{ scenario }}-{{ vu }}-{{ iteration }}"},
        WHERE,
    )
    out = template.render(ctx(vu=2, iteration=5, row={"id": "rec_9", "q": "body"}))
    assert out == {"id": "rec_9", "query": "BODY", "tag": "mcp_load-2-5"}


def test_templates_inside_lists_and_nested_objects_keep_order_and_constants() -> None:
    template = ArgumentTemplate({"a": 1, "b": {"c": ["x", "{{ vu }}"], "d": "const"}, "e": "{{ vu * 2 }}"}, WHERE)
    out = template.render(ctx(vu=4))
    assert out == {"a": 1, "b": {"c": ["x", 4], "d": "const"}, "e": 8}
    assert list(out) == ["a", "b", "e"]


def test_a_seed_makes_rendering_repeatable() -> None:
    template = ArgumentTemplate(
        {"n": "{{ randint(1, 1000000) }}", "id": "{{ uuid() }}", "pick": "{{ choice(['a', 'b', 'c', 'd']) }}"},
        WHERE,
    )
    first = [template.render(ctx(seed=42)) for _ in range(3)]
    again = [template.render(ctx(seed=42)) for _ in range(3)]
    assert first == again
    rng = random.Random(42)
    same_rng = CallContext(vu=1, iteration=0, scenario="s", rng=rng)
    a, b = template.render(same_rng), template.render(same_rng)
    assert a != b
    assert uuid.UUID(a["id"]).version == 4


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ ''.__class__.__mro__ }}", "not allowed in a template: access to attribute '__class__'"),
        ("{{ cycler.__init__.__globals__ }}", "access to attribute '__init__' of 'StrictUndefined' object is unsafe"),
        ("{{ row.update({'a': 1}) }}", "not allowed in a template: access to attribute 'update'"),
        ("{{ range(10) | list }}", "'range' is undefined"),
        ("{{ lipsum() }}", "'lipsum' is undefined"),
    ],
)
def test_sandbox_escapes_fail_cleanly(source: str, expected: str) -> None:
    template = ArgumentTemplate({"x": source}, WHERE)
    with pytest.raises(TemplateError) as caught:
        template.render(ctx(row={"a": 0}))
    message = str(caught.value)
    assert message.startswith(f"{WHERE}.x: ")
    assert expected in message
    assert "\n" not in message


def test_the_rng_is_not_reachable_from_templates() -> None:
    template = ArgumentTemplate({"x": "{{ rng }}"}, WHERE)
    with pytest.raises(TemplateError, match="'rng' is undefined"):
        template.render(ctx())


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"id": "{{ record_id }}"}, f"{WHERE}.id: 'record_id' is undefined"),
        ({"q": ["a", "text {{ nope }}"]}, f"{WHERE}.q[1]: 'nope' is undefined"),
        ({"n": "{{ 1 / 0 }}"}, f"{WHERE}.n: ZeroDivisionError: division by zero"),
        ({"n": "{{ choice([]) }}"}, f"{WHERE}.n: ValueError: choice() got an empty sequence"),
        ({"n": "{{ randint }}"}, f"{WHERE}.n: renders to a function, not a JSON value"),
        ({"id": "{{ row.id }}"}, f"{WHERE}.id: 'None' has no attribute 'id'"),
    ],
)
def test_render_errors_name_where(arguments: dict[str, Any], expected: str) -> None:
    template = ArgumentTemplate(arguments, WHERE)
    with pytest.raises(TemplateError) as caught:
        template.render(ctx())
    assert str(caught.value) == expected
    assert isinstance(caught.value, ValueError)


def test_template_syntax_errors_are_usage_errors_naming_the_key_path() -> None:
    with pytest.raises(UsageError) as caught:
        ArgumentTemplate({"filter": {"terms": ["ok", "{{ vu "]}}, WHERE)
    assert caught.value.field == f"{WHERE}.filter.terms[1]"
    assert caught.value.message.startswith("template syntax error: ")
    with pytest.raises(UsageError, match="not available in arguments"):
        ArgumentTemplate({"x": "{% include 'other' %}"}, WHERE)


def test_a_failed_leaf_does_not_leak_into_the_next_call() -> None:
    template = ArgumentTemplate({"a": "{{ 10 // iteration }}", "b": "{{ result }}"}, WHERE)
    with pytest.raises(TemplateError, match=r"\.a: ZeroDivisionError"):
        template.render(ctx(iteration=0))
    with pytest.raises(TemplateError, match=r"\.b: 'result' is undefined"):
        template.render(ctx(iteration=1))


# --- datasets -------------------------------------------------------------------------------------


def test_dataset_json(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"id": "rec_1", "n": 1}, {"id": "rec_2", "n": 2}]))
    assert load_dataset(path) == [{"id": "rec_1", "n": 1}, {"id": "rec_2", "n": 2}]


def test_dataset_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "rec_1"}\n\n{"id": "rec_2", "text": "a\u2028b"}\n')
    assert load_dataset(path) == [{"id": "rec_1"}, {"id": "rec_2", "text": "a\u2028b"}]


def test_dataset_csv_values_are_strings(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes('\ufeffid,query\nrec_1,"a, b"\nrec_2,"two\nlines"\n\n'.encode())
    assert load_dataset(path) == [{"id": "rec_1", "query": "a, b"}, {"id": "rec_2", "query": "two\nlines"}]


def test_dataset_format_can_be_named(tmp_path: Path) -> None:
    path = tmp_path / "rows.txt"
    path.write_text('{"id": 1}\n')
    assert load_dataset(path, fmt="jsonl") == [{"id": 1}]
    with pytest.raises(UsageError, match=r"^datasets.x: .*rows.txt: cannot tell the format"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.json", b"[]", r"a.json: has no rows$"),
        ("a.json", b'{"id": 1}', r"a.json: must be a JSON array of objects, got an object$"),
        ("a.json", b'[{"id": 1}, 5]', r"a.json: item 2 is a number, not an object$"),
        ("a.json", b'[\n{"id": 1},\n{"id": }\n]', r"a.json:3: not valid JSON \("),
        ("a.jsonl", b'{"id": 1}\n{"id": 2\n', r"a.jsonl:2: not valid JSON \("),
        ("a.jsonl", b'{"id": 1}\n[1, 2]\n', r"a.jsonl:2: each line must be a JSON object, got an array$"),
        ("a.jsonl", b"\n  \n", r"a.jsonl: has no rows$"),
        ("a.csv", b"id,name\n1,a\n2\n", r"a.csv:3: has 1 fields, the header has 2$"),
        ("a.csv", b"id,id\n1,2\n", r"a.csv:1: the header names 'id' twice$"),
        ("a.csv", b"id,\n1,2\n", r"a.csv:1: the header has an empty column name$"),
        ("a.csv", b"id\n", r"a.csv: has no rows$"),
        ("a.csv", b"", r"a.csv:1: the first line must be a header row"),
        ("a.csv", b"id\nx\n\xff\n", r"a.csv:3: not valid UTF-8 \(byte 0xff\)$"),
    ],
)
def test_bad_datasets(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UsageError) as caught:
        load_dataset(path, where="datasets.records")
    assert caught.value.field == "datasets.records"
    assert str(caught.value).startswith("datasets.records: ")
    assert "\n" not in str(caught.value)
    assert caught.value.message.startswith(str(tmp_path))
    assert re.search(expected, str(caught.value)), str(caught.value)


def test_dataset_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^datasets.x: .*nope.csv: no such file$"):
        load_dataset(tmp_path / "nope.csv")
    folder = tmp_path / "dir.json"
    folder.mkdir()
    with pytest.raises(UsageError, match=r"dir.json: is a directory"):
        load_dataset(folder)


def test_dataset_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mcpgate.workload.datasets.MAX_DATASET_BYTES", 16)
    path = tmp_path / "big.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n')
    with pytest.raises(UsageError, match=r"big.jsonl: is larger than 256 MiB$"):
        load_dataset(path)


# --- rows -----------------------------------------------------------------------------------------

ROWS = [{"n": n} for n in range(10)]


def test_vu_order_gives_each_vu_its_own_rows_until_the_data_wraps() -> None:
    picker = RowPicker(ROWS, "vu", stride=3)
    rng = random.Random(0)
    seen = [picker.pick(vu, iteration, rng)["n"] for iteration in range(3) for vu in (1, 2, 3)]
    assert seen == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert picker.pick(1, 3, rng)["n"] == 9
    assert picker.pick(2, 3, rng)["n"] == 0  # wraps
    assert picker.pick(2, 0, rng) is ROWS[1]


def test_sequential_order_is_one_shared_counter() -> None:
    picker = RowPicker(ROWS[:3], "sequential", stride=5)
    rng = random.Random(0)
    assert [picker.pick(vu, 0, rng)["n"] for vu in (1, 1, 2, 5, 3)] == [0, 1, 2, 0, 1]


def test_random_order_uses_the_vu_rng() -> None:
    picker = RowPicker(ROWS, "random", stride=1)
    first = [picker.pick(1, i, random.Random(7))["n"] for i in range(5)]
    assert first == [picker.pick(1, i, random.Random(7))["n"] for i in range(5)]
    rng = random.Random(3)
    counts = Counter(picker.pick(1, 0, rng)["n"] for _ in range(500))
    assert set(counts) == set(range(10))


def test_row_picker_rejects_bad_setup() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        RowPicker([], "vu", 1)
    with pytest.raises(ValueError, match="unknown row order"):
        RowPicker(ROWS, "shuffled", 1)


# --- arguments: auto ------------------------------------------------------------------------------

GET_RECORD = {"type": "object", "properties": {"id": {"title": "Id", "type": "string"}}, "required": ["id"]}
SEARCH_RECORDS = {
    "type": "object",
    "properties": {
        "query": {"title": "Query", "type": "string"},
        "limit": {"title": "Limit", "type": "integer", "default": 10},
    },
    "required": ["query"],
}


def test_example_server_schemas() -> None:
    assert synthesize_arguments(GET_RECORD) == {"id": "test"}
    assert synthesize_arguments(SEARCH_RECORDS) == {"query": "test"}
    fetch = {
        "type": "object",
        "properties": {"source": {"type": "string"}, "resource_id": {"type": "string"}},
        "required": ["source", "resource_id"],
    }
    assert synthesize_arguments(fetch) == {"source": "test", "resource_id": "test"}


def test_scalars_follow_enum_const_default_format_and_bounds() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["fast", "slow"]},
            "fixed": {"const": 7},
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "mail": {"type": "string", "format": "email"},
            "link": {"type": "string", "format": "uri"},
            "key": {"type": "string", "format": "uuid"},
            "short": {"type": "string", "maxLength": 2},
            "long": {"type": "string", "minLength": 8},
            "example": {"type": "string", "examples": ["rec_1"]},
            "page": {"type": "integer", "minimum": 1, "maximum": 9},
            "offset": {"type": "integer", "minimum": 5},
            "neg": {"type": "integer", "maximum": -3},
            "open": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
            "ratio": {"type": "number", "minimum": 0, "maximum": 1},
            "size": {"type": "integer", "default": 25},
            "flag": {"type": "boolean"},
            "off": {"type": "boolean", "default": False},
            "nothing": {"type": "null"},
            "either": {"type": ["null", "integer"]},
            "optional": {"type": "string"},
        },
        "required": [
            "kind", "fixed", "when", "day", "mail", "link", "key", "short", "long", "example", "page",
            "offset", "neg", "open", "ratio", "size", "flag", "off", "nothing", "either",
        ],
    }  # fmt: skip
    out = synthesize_arguments(schema)
    assert out == {
        "kind": "fast",
        "fixed": 7,
        "when": "2024-01-01T00:00:00Z",
        "day": "2024-01-01",
        "mail": "test@example.com",
        "link": "https://example.com/",
        "key": "00000000-0000-4000-8000-000000000000",
        "short": "te",
        "long": "testxxxx",
        "example": "rec_1",
        "page": 5,
        "offset": 5,
        "neg": -3,
        "open": 1,
        "ratio": 0.5,
        "size": 25,
        "flag": True,
        "off": False,
        "nothing": None,
        "either": 1,
    }
    assert uuid.UUID(out["key"]).version == 4


def test_nested_objects_arrays_and_unions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "filter": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "extra": {"type": "string"}},
                "required": ["field"],
            },
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True},
            "empty": {"type": "array", "items": {"type": "string"}},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}], "minItems": 2},
            "choice": {"oneOf": [{"type": "integer", "minimum": 3}, {"type": "string"}]},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "string", "format": "email"}]},
            "both": {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"required": ["b"]}]},
            "map": {"type": "object", "additionalProperties": {"type": "integer"}, "required": ["k"]},
        },
        "required": ["filter", "tags", "empty", "pair", "choice", "maybe", "both", "map"],
    }
    assert synthesize_arguments(schema) == {
        "filter": {"field": "test"},
        "tags": ["test", "test1"],
        "empty": [],
        "pair": [1, True],
        "choice": 3,
        "maybe": "test@example.com",
        "both": {"a": 1, "b": None},
        "map": {"k": 1},
    }


def test_refs_are_resolved_and_cycles_stop() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "child": {"$ref": "#/$defs/Node"}},
                "required": ["name", "child"],
            },
            "Mode": {"type": "string", "enum": ["read", "write"]},
        },
        "definitions": {"Limit": {"type": "integer", "minimum": 1, "maximum": 3}},
        "properties": {
            "tree": {"$ref": "#/$defs/Node"},
            "mode": {"$ref": "#/$defs/Mode"},
            "limit": {"$ref": "#/definitions/Limit"},
            "missing": {"$ref": "#/$defs/Nope"},
            "remote": {"$ref": "https://example.com/schema.json"},
        },
        "required": ["tree", "mode", "limit", "missing", "remote"],
    }
    assert synthesize_arguments(schema) == {
        "tree": {"name": "test", "child": None},
        "mode": "read",
        "limit": 2,
        "missing": None,
        "remote": None,
    }


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"type": "string"},
        {"type": "object", "required": "id"},
        {"type": "object", "required": [1, None, ["x"], "ok"], "properties": []},
        {"type": "object", "properties": {"a": {"type": "array", "minItems": 10**12}}, "required": ["a"]},
        {"type": "object", "properties": {"s": {"type": "string", "minLength": 10**12}}, "required": ["s"]},
        {"type": "object", "properties": {"n": {"type": "number", "minimum": 1e308, "maximum": 1.7e308}}},
        {"$ref": "#"},
        {"$ref": "#/$defs/A", "$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}]}}},
        {"type": "object", "properties": {"x": {"anyOf": []}}, "required": ["x"]},
    ],
)
def test_weird_schemas_do_not_raise(schema: dict[str, Any]) -> None:
    assert isinstance(synthesize_arguments(schema), dict)


def test_multiplying_schemas_stay_bounded() -> None:
    defs = {
        f"D{i}": {
            "type": "object",
            "properties": {"a": {"$ref": f"#/$defs/D{i + 1}"}, "b": {"$ref": f"#/$defs/D{i + 1}"}},
            "required": ["a", "b"],
        }
        for i in range(30)
    }
    out = synthesize_arguments({"$ref": "#/$defs/D0", "$defs": defs})
    assert set(out) == {"a", "b"}


def test_random_json_schemas_never_raise() -> None:
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    keywords = st.sampled_from(
        [
            "type", "properties", "required", "items", "prefixItems", "enum", "const", "default", "oneOf",
            "anyOf", "allOf", "$ref", "$defs", "definitions", "minimum", "maximum", "exclusiveMinimum",
            "exclusiveMaximum", "minLength", "maxLength", "minItems", "format", "additionalProperties",
            "uniqueItems", "examples", "a", "b",
        ]
    )  # fmt: skip
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.sampled_from(["object", "array", "string", "integer", "number", "boolean", "null", "uuid", "date"]),
        st.sampled_from(["#", "#/$defs/a", "#/definitions/b", "#/properties/a", "#/", "#/a/0", "x"]),
        st.text(max_size=5),
    )
    json_like = st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keywords, inner, max_size=5)),
        max_leaves=12,
    )

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.dictionaries(keywords, json_like, max_size=6))
    def check(schema: dict[str, Any]) -> None:
        assert isinstance(synthesize_arguments(schema), dict)

    check()
