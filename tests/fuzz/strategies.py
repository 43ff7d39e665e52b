"""Hypothesis strategies for bad input: mutated configs, thresholds, durations, templates, datasets, action inputs.

Each factory is cached: building a recursive strategy costs more than drawing from it.

Each strategy mixes hand-picked nasties (the values a person or a broken pipeline actually writes)
with generated text, so the fixed seed still covers the known-dangerous cases early.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from mcpgate.metrics.catalog import BUILTIN, TAG_KEYS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcpgate.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE_TEXT)

UNSET = "MCPGATE_FUZZ_UNSET_VARIABLE"
SECRET_ENV = "MCPGATE_FUZZ_SECRET"
SECRET_VALUE = "env-secret-7f3a9c"  # set in the environment while the fuzz tests run
FILE_SECRET = "file-secret-41b2d8"  # written to secret.txt beside the configs

NASTY_TEXT = [
    "",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "\u202e",
    "\ufeff",
    "\uffff",
    "é",
    "💥",
    "日本",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "-1",
    "0",
    "9" * 400,
    "%",
    "%s",
    "%n",
    "{",
    "}",
    "{{",
    "}}",
    "{%",
    "{#",
    "${",
    "$${",
    "${" + UNSET + "}",
    "${" + SECRET_ENV + "}",
    "'",
    '"',
    ":",
    ": ",
    "- ",
    "&a",
    "*a",
    "!!python/object/apply:os.system ['true']",
    "!!binary",
    "---",
    "...",
    "<<",
    "? ",
    "|",
    ">",
    "#",
    "@",
    "`",
    "\\",
    "~",
    "null",
    "true",
    "yes",
    "on",
    "2025-06-18",
    "0x1F",
    "0o17",
    "1_000",
    "..",
    "a" * 300,
]


@functools.cache
def junk(max_size: int = 12) -> st.SearchStrategy[str]:
    """Short text that breaks things: a nasty, generated text, or a few nasties glued together."""
    return st.one_of(
        st.sampled_from(NASTY_TEXT),
        st.text(max_size=max_size),
        st.lists(st.sampled_from(NASTY_TEXT), min_size=2, max_size=4).map("".join),
    )


# --- durations ----------------------------------------------------------------------------------

_NUMBERS = ["0", "1", "5", "1.5", ".5", "5.", "-1", "+1", "1e3", "1e-3", "1e999", "9" * 400, "١٢", "0x10", "1_0", ""]
_UNITS = ["ms", "s", "m", "h", "", "d", "us", "µs", "ns", "S", "M", "H", "sec", "min", " s"]
NASTY_DURATIONS = [
    "",
    " ",
    "0",
    "0s",
    "0ms",
    "-0s",
    "-5s",
    "-1",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "infinity",
    "1e309",
    "1e308",
    "1e308h",
    "9" * 400 + "h",
    "9" * 400 + "s",
    "1" + "0" * 30 + "h",
    "5x",
    "5 s",
    "1h 30m",
    "1h30",
    "h",
    "s",
    "1.2.3s",
    "1..2s",
    "0.5s..2s",
    "2s..0.5s",
    "..",
    "1s..",
    "..1s",
    "10s..-1s",
    "1e3s",
    "٣s",
    "５s",
    "1s\n",
    "1s\x00",
    "P1D",
    "00:01:00",
    "1m1m1m",
    "3000000000000000000000h",
]


@functools.cache
def duration_text() -> st.SearchStrategy[str]:
    composed = st.lists(
        st.tuples(st.sampled_from(_NUMBERS), st.sampled_from(_UNITS)).map("".join), min_size=1, max_size=4
    ).flatmap(lambda parts: st.sampled_from(["", " ", "..", "_", "-"]).map(lambda sep: sep.join(parts)))
    return st.one_of(st.sampled_from(NASTY_DURATIONS), composed, junk())


@functools.cache
def duration_value() -> st.SearchStrategy[Any]:
    """What a YAML duration field may hold: text, numbers of any size, or the wrong type."""
    return st.one_of(
        duration_text(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([10**400, -(10**400), 2**63, 2**64 + 1]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([None, True, False, [], {}, ["1s"], {"min": "1s"}]),
    )


# --- thresholds ---------------------------------------------------------------------------------

_METRIC_NAMES = [
    *BUILTIN,
    "mcp_tool_duraton",
    "http_req_faild",
    "custom_metric",
    "",
    " ",
    "1abc",
    "a" * 200,
    "mcp tool duration",
    "mcp-tool-duration",
    "mcp_tool_duration.p95",
    "Mcp_Tool_Duration",
    "__class__",
]
_TAG_NAMES = [*TAG_KEYS, "tol", "status", "", " ", "'tool'", '"method"', "tool ", "group", "__class__"]
_TAG_VALUES = ["get_record", "tools/list", "mcp_load", "a:b", "", " ", "'q'", '"q"', "x,y", "{", "}", "💥", "a" * 80]
_AGGREGATIONS = [
    "avg",
    "min",
    "med",
    "max",
    "count",
    "rate",
    "value",
    "p(95)",
    "p(99.9)",
    "p(0)",
    "p(100)",
    "p(100.0001)",
    "p(-1)",
    "p()",
    "p(nan)",
    "p(inf)",
    "p(1e400)",
    "p(95",
    "p95",
    "P(95)",
    "p( 95 )",
    "p(9" + "9" * 400 + ")",
    "mean",
    "sum",
    "",
    "rate(1)",
    "count()",
    "avg avg",
]
_OPERATORS = ["<", "<=", ">", ">=", "==", "===", "!=", "=", "=>", "=<", "<>", "!", "", "<<", "< =", "≤"]
_LIMITS = [
    "3000",
    "0",
    "-1",
    "0.01",
    "1",
    "2",
    "1e3",
    "1e400",
    "-1e400",
    "nan",
    "NaN",
    "inf",
    "Infinity",
    "0x10",
    "1_000",
    "",
    "١٢",
    "9" * 400,
    ".5",
    "5.",
    "+5",
    "--5",
    "1e",
    "e5",
    "1,5",
]
_SPACE = ["", "", " ", "\t", "\u00a0", "\u3000", "\n"]


@functools.cache
def metric_key() -> st.SearchStrategy[str]:
    tag = st.tuples(st.sampled_from(_TAG_NAMES), st.sampled_from([":", "", "::", "="]), st.sampled_from(_TAG_VALUES))
    tags = st.lists(tag.map("".join), max_size=3).map(",".join)
    with_tags = st.tuples(
        st.sampled_from(_METRIC_NAMES),
        st.sampled_from(["{", "", "{{", "}"]),
        tags,
        st.sampled_from(["}", "", "}}", "{"]),
    ).map("".join)
    return st.one_of(st.sampled_from(_METRIC_NAMES), with_tags, junk())


@functools.cache
def threshold_expression() -> st.SearchStrategy[str]:
    composed = st.tuples(
        st.sampled_from(_SPACE),
        st.sampled_from(_AGGREGATIONS),
        st.sampled_from(_SPACE),
        st.sampled_from(_OPERATORS),
        st.sampled_from(_SPACE),
        st.sampled_from(_LIMITS),
        st.sampled_from(_SPACE),
    ).map("".join)
    return st.one_of(composed, composed.flatmap(lambda e: junk().map(lambda j: e + j)), junk())


@functools.cache
def threshold_items() -> st.SearchStrategy[Any]:
    """A config value for one threshold key: a list of expressions or items, or something else."""
    item = st.one_of(
        threshold_expression(),
        st.fixed_dictionaries(
            {"threshold": st.one_of(threshold_expression(), st.sampled_from([None, 5, [], {}]))},
            optional={
                "abort_on_fail": st.sampled_from([True, False, "yes", 1, None, "true"]),
                "abortOnFail": st.booleans(),
                "delay_abort_eval": duration_value(),
                "allow_no_data": st.sampled_from([True, False, "no", 2]),
                "bogus": junk(),
            },
        ),
        st.sampled_from([None, 5, 1.5, True, [], {}, ["p(95)<1"]]),
    )
    return st.one_of(st.lists(item, max_size=3), item)


@functools.cache
def cli_threshold() -> st.SearchStrategy[str]:
    expressions = st.lists(threshold_expression(), min_size=1, max_size=3).map(",".join)
    composed = st.tuples(metric_key(), st.sampled_from(["=", "", "==", " = ", ":"]), expressions).map("".join)
    return st.one_of(composed, junk())


# --- templates ----------------------------------------------------------------------------------

_ATOMS = [
    "vu",
    "iteration",
    "scenario",
    "row",
    "row.id",
    "row['q']",
    "row.missing",
    "1",
    "-1",
    "1.5",
    "1e999",
    "'a'",
    "'x' * 3",
    "[1, 2]",
    "{'a': 1}",
    "none",
    "true",
    "randint(0, 9)",
    "randint(9, 0)",
    "randint('a', 'b')",
    "randint(0, 10**30)",
    "choice([])",
    "choice('abc')",
    "choice(row)",
    "uuid()",
    "random()",
    "range(10)",
    "lipsum()",
    "cycler",
    "joiner",
    "namespace()",
    "self",
    "config",
    "request",
    "os",
    "environ",
    "open('/etc/passwd')",
    "__import__('os')",
    "loop",
    "caller",
    "varargs",
    "kwargs",
    "rng",
    "undefined_name",
    "'%s'",
    "''",
]
_ATTRIBUTES = [
    ".__class__",
    ".__mro__",
    ".__subclasses__()",
    ".__init__",
    ".__globals__",
    ".__builtins__",
    ".__dict__",
    ".mro()",
    ".format",
    ".format(1)",
    ".update({})",
    ".append(1)",
    ".pop()",
    ".clear()",
    ".func_globals",
    ".gi_frame",
    ".f_globals",
    "._TemplateReference__context",
    ".environment",
    ".jinja_pass_arg",
    "['__class__']",
    "['__globals__']",
    "|attr('__class__')",
    "|attr('__init__')",
    ".upper()",
    ".items()",
    ".keys()",
    "[0]",
    "[-1]",
    "[1:]",
    "[::-1]",
    ".seed(0)",
    ".getrandbits(8)",
]
_FILTERS = [
    "|upper",
    "|string",
    "|list",
    "|length",
    "|int",
    "|float",
    "|tojson",
    "|pprint",
    "|join(',')",
    "|replace('a', 'bb')",
    "|center(10**9)",
    "|indent(10**9)",
    "|wordwrap(1)",
    "|batch(10**9, 0)|list",
    "|slice(10**9)|list",
    "|format(1)",
    "|truncate(3)",
    "|sum",
    "|sort",
    "|unique|list",
    "|random",
    "|nope",
    "|e",
    "|safe",
    "|map('upper')|list",
    "|map(attribute='__class__')|list",
    "|selectattr('__class__')|list",
    "|dictsort",
    "|urlize",
    "|xmlattr",
    "|filesizeformat",
    "|default('x')",
    "|abs",
    "|round(10**9)",
]
_BINOPS = ["+", "-", "*", "/", "//", "%", "**", "~", " and ", " or ", " in ", " == ", " < ", " is ", " not in "]
_AMPLIFIERS = [
    "'a' * 10**9",
    "[0] * 10**9",
    "(1,) * 10**9",
    "10 ** 10 ** 10",
    "9 ** 9 ** 9",
    "2 ** 100000000",
    "'%*d' % (10**9, 1)",
    "'%1000000000d' % 1",
    "'%.1000000000f' % 1",
    "'{:>1000000000}'.format(1)",
    "'{:{}}'.format(1, 10**9)",
    "'{0}{0}{0}{0}'.format('x' * 1000000)",
    "'a'.ljust(10**9)",
    "'a'.rjust(10**9)",
    "'a'.center(10**9)",
    "'a'.zfill(10**9)",
    "('\t' * 1000).expandtabs(10**6)",
    "('x' * 100000).join('y' * 100000)",
    "('x' * 100000).replace('x', 'y' * 100000)",
    "'x'.replace('', 'y' * 100000)",
    "'a' | center(10**9)",
    "('x\\n' * 100000) | indent(10**4)",
    "[1] | batch(10**9, 0) | list",
    "[1] | slice(10**9) | list",
    "('x' * 100000) | wordwrap(1, wrapstring='y' * 100000)",
    "('x ' * 100000) | join('y' * 100000)",
    "'%s' | format('x' * 10**7)",
    "'%*s' | format(10**9, 'x')",
    "('x' * 10**6) ~ ('x' * 10**6)",
    "'x'.translate({120: 'y' * 10**6})",
    "'x' * 10**6 + 'y' * 10**6",
    "10**4300",
    "2**64",
    "1e308 * 10",
    "0.0 / 0",
]
_STATEMENTS = [
    "{% include '/etc/passwd' %}",
    "{% include 'secret.txt' %}",
    "{% import 'os' as os %}",
    "{% from 'os' import environ %}",
    "{% extends 'base.html' %}",
    "{% block b %}x{% endblock %}",
    "{% raw %}{{ vu }}{% endraw %}",
    "{% filter upper %}x{% endfilter %}",
    "{% set x = 1 %}{{ x }}",
    "{% set ns = namespace(a=1) %}",
    "{% with a = 1 %}{{ a }}{% endwith %}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% macro f() %}{{ caller() }}{% endmacro %}{% call f() %}x{% endcall %}",
    "{% for a in 'x' * 1000 %}{% for b in 'x' * 1000 %}{% for c in 'x' * 1000 %}{% endfor %}{% endfor %}{% endfor %}",
    "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{{ a }}{% endfor %}{% endfor %}",
    "{% for a in row recursive %}{{ loop(a) }}{% endfor %}",
    "{% for a in [1] %}{{ loop.cycle }}{% endfor %}",
    "{% do [].append(1) %}",
    "{% autoescape true %}<{% endautoescape %}",
    "{% break %}",
    "{% endfor %}",
    "{% if %}",
    "{% for %}",
    "{# comment #}",
    "{# unclosed",
    "{% set a = [1, 1, 1, 1] %}" + "{% set a = [a, a, a, a] %}" * 20 + "{{ a }}",
    "{% set a = [1, 1, 1, 1] %}" + "{% set a = [a, a, a, a] %}" * 20 + "{{ a | string | length }}",
    "{% set a = [1, 1, 1, 1] %}" + "{% set a = [a, a, a, a] %}" * 20 + "x{{ a }}",
    "{% set a = [1, 1, 1, 1] %}" + "{% set a = [a, a, a, a] %}" * 20 + "{{ a ~ '' }}",
    "{% set a = [1, 1, 1, 1] %}" + "{% set a = [a, a, a, a] %}" * 20 + "{{ a | tojson }}",
    "{% set a = 'x' * 1000 %}" + "{% set a = a ~ a %}" * 30 + "{{ a | length }}",
    "{% set a = 'x' * 1000 %}" + "{% set a = a + a %}" * 30 + "{{ a | length }}",
    "{% set a = 'x' %}" + "{% set a = a.replace('x', 'xx') %}" * 40 + "{{ a | length }}",
    "{% macro m0() %}x{% endmacro %}"
    + "".join(f"{{% macro m{i}() %}}{{{{ m{i - 1}() }}}}{{{{ m{i - 1}() }}}}{{% endmacro %}}" for i in range(1, 40))
    + "{{ m39() }}",
    "{% macro m0() %}xxxxxxxxxx{% endmacro %}"
    + "".join(f"{{% macro m{i}() %}}{{{{ m{i - 1}() ~ m{i - 1}() }}}}{{% endmacro %}}" for i in range(1, 40))
    + "{{ m39() | length }}",
]
_SYNTAX_JUNK = [
    "{{",
    "}}",
    "{{ }}",
    "{{ vu ",
    "{{ 1 + }}",
    "{{ 'unterminated }}",
    "{{ x. }}",
    "{{ é }}",
    "{{ 0x }}",
    "{{ 1" + "1" * 5000 + " }}",
    "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}",
    "{{ " + "[" * 1000 + "]" * 1000 + " }}",
    "{{ " + "-" * 2000 + "1 }}",
    "{{ " + "not " * 1000 + "1 }}",
    "{{ " + "a." * 1000 + "b }}",
    "{{ a" + "|upper" * 1000 + " }}",
    "{{ " + " ~ ".join(["'x'"] * 1000) + " }}",
    "{{ vu }}}",
    "{{{ vu }}",
    "{%%}",
    "{{ vu is nope }}",
    "{{ vu | }}",
    "{{ vu(}}",
    "{{ \x00 }}",
    "{{ '\\x00' }}",
]


@functools.cache
def template_expression() -> st.SearchStrategy[str]:
    base = st.one_of(st.sampled_from(_ATOMS), st.sampled_from(_AMPLIFIERS))
    chained = st.tuples(base, st.lists(st.sampled_from(_ATTRIBUTES + _FILTERS), max_size=3).map("".join)).map("".join)
    return st.recursive(
        chained,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(_BINOPS), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
            st.tuples(inner, st.sampled_from(_FILTERS)).map("".join),
            inner.map(lambda e: f"[{e}, {e}]"),
            inner.map(lambda e: f"({e} if vu else none)"),
        ),
        max_leaves=4,
    )


@functools.cache
def template_source() -> st.SearchStrategy[str]:
    expression = template_expression().map(lambda e: "{{ " + e + " }}")
    piece = st.one_of(
        expression,
        st.sampled_from(_STATEMENTS),
        st.sampled_from(_SYNTAX_JUNK),
        junk(),
        st.sampled_from(["rec_", "text ", "{{ vu }}", "{{ row.id }}"]),
    )
    return st.one_of(expression, st.lists(piece, min_size=1, max_size=4).map("".join))


# --- datasets -----------------------------------------------------------------------------------

_JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
)
_JSON = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
_ROW = st.dictionaries(st.text(max_size=5), _JSON, max_size=4)
NASTY_DATA = [
    b"",
    b" ",
    b"\n\n",
    b"\xef\xbb\xbf",
    b"\xef\xbb\xbf[]",
    b"\xef\xbb\xbf[{}]",
    b'\xef\xbb\xbf\xef\xbb\xbf[{"a": 1}]',
    b"\xff\xfe[\x00{\x00}\x00]\x00",
    b"\xfe\xff\x00[\x00{\x00}\x00]",
    b"\x00\x00\x00",
    b"\x80\x81\xfe\xff",
    b"[",
    b"]",
    b"{",
    b"[{]",
    b"[{}",
    b"[{}, 1]",
    b"[[]]",
    b"{}",
    b'{"a": 1}',
    b'"text"',
    b"null",
    b"1",
    b"NaN",
    b"[NaN]",
    b'[{"a": NaN}]',
    b'[{"a": Infinity}]',
    b'[{"a": 1' + b"0" * 400 + b"}]",
    b'[{"a": 1e400}]',
    b"[" * 5000 + b"]" * 5000,
    b'[{"a":' * 2000 + b"1" + b"}" * 2000 + b"]",
    b'[{"a": "\\ud800"}]',
    b'[{"a": "\xed\xa0\x80"}]',
    b'{"a": 1}\n{"a": 2',
    b'{"a": 1}\n[1]\n',
    b'{"a": 1}\r\n{"b": 2}\r\n',
    b'{"a": "\xe2\x80\xa8"}\n',
    b'{"a": 1}\x00\n',
    b"a,b\n1,2\n",
    b"a,b\n1\n",
    b"a,b\n1,2,3\n",
    b"a,a\n1,2\n",
    b",\n1,2\n",
    b"a,\n1,2\n",
    b"\n\na,b\n",
    b'a,b\n"1,2\n',
    b'"a\nb",c\n1,2\n',
    b"a\x00b,c\n1,2\n",
    b"a;b\n1;2\n",
    b"a,b\r1,2\r",
    b"a,b\n" + b"x" * 200_000 + b",1\n",
    b"\xef\xbb\xbfa,b\n1,2\n",
    b"a,b\n\xff,1\n",
]


@functools.cache
def dataset_bytes() -> st.SearchStrategy[bytes]:
    json_text = st.one_of(st.lists(_ROW, max_size=4), _JSON).map(lambda v: json.dumps(v).encode())
    jsonl_text = st.lists(st.one_of(_ROW, _JSON), max_size=4).map(
        lambda rows: b"\n".join(json.dumps(r).encode() for r in rows)
    )
    csv_text = st.lists(
        st.lists(
            st.one_of(st.text(max_size=6), st.sampled_from(['"', '""', ",", "\n", "\r", "\x00", "a"])), max_size=4
        ),
        max_size=4,
    ).map(lambda rows: "\n".join(",".join(row) for row in rows).encode("utf-8", "surrogatepass"))
    valid = st.one_of(json_text, jsonl_text, csv_text)
    mutated = st.tuples(valid, st.integers(0, 200), st.sampled_from([b"", b"\x00", b"\xff", b"{", b'"', b",", b"\n"]))
    return st.one_of(
        st.sampled_from(NASTY_DATA),
        valid,
        mutated.map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]),
        st.binary(max_size=64),
        st.tuples(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b""]), valid).map(b"".join),
    )


DATASET_NAMES = ["data.json", "data.jsonl", "data.ndjson", "data.csv", "data.CSV", "data.txt", "data", "data.json.gz"]
DATASET_FORMATS = ["auto", "json", "jsonl", "csv"]


# --- configs ------------------------------------------------------------------------------------

_EXECUTORS = [
    "constant-vus",
    "ramping-vus",
    "constant-arrival-rate",
    "ramping-arrival-rate",
    "per-vu-iterations",
    "shared-iterations",
    "externally-controlled",
    "Ramping-VUs",
    "ramping_vus",
    "",
    None,
    5,
]
BAD_SCALARS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**63,
    2**64 + 1,
    10**400,
    -(10**400),
    0.5,
    -0.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    "",
    " ",
    "0",
    "-1",
    "-5s",
    "0s",
    "nan",
    "inf",
    "1e999",
    "10s..1s",
    "auto",
    "${" + UNSET + "}",
    "${}",
    "${1BAD}",
    "${UNCLOSED",
    "${A:-}",
    "$${literal}",
    "{{ vu ",
    "{% include 'secret.txt' %}",
    "ftp://example.com/mcp",
    "http://",
    "http://[::1",
    "http://127.0.0.1:99999/mcp",
    "http://user:pass@127.0.0.1/mcp",
    "/tmp",
    "../../etc/passwd",
]


@functools.cache
def bad_value() -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.sampled_from(BAD_SCALARS),
        junk(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(junk(), inner, max_size=3)),
        max_leaves=5,
    )


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, child in node.items():
            found.append((*prefix, key))
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.append((*prefix, index))
            found.extend(_paths(child, (*prefix, index)))
    return found


def _containers(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if isinstance(node, dict) else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found.extend(_containers(child, (*prefix, key)))
    return found


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _typo(word: str, index: int) -> str:
    if not word:
        return "x"
    at = index % len(word)
    return word[:at] + word[at + 1 :] if index % 2 else word[:at] + word[at] + word[at:]


_DURATION_KEYS = ("timeout", "connect_timeout", "think_time", "duration", "start_time", "graceful_stop", "time_unit")


@st.composite
def config_data(draw: st.DrawFn) -> tuple[dict[str, Any], bytes | None, str]:
    """The example config with 1-3 structural mutations; and a dataset file's bytes and name, when one is used."""
    data: dict[str, Any] = copy.deepcopy(BASE)
    dataset: bytes | None = None
    dataset_name = "data.json"
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                [
                    "set",
                    "set",
                    "delete",
                    "add_key",
                    "typo",
                    "executor",
                    "duration",
                    "template",
                    "threshold",
                    "dataset",
                    "env",
                    "number",
                ]
            )
        )
        paths = _paths(data)
        if op == "set" and paths:
            path = draw(st.sampled_from(paths))
            _get(data, path[:-1])[path[-1]] = draw(bad_value())
        elif op == "delete" and paths:
            path = draw(st.sampled_from(paths))
            del _get(data, path[:-1])[path[-1]]
        elif op == "add_key":
            where = draw(st.sampled_from(_containers(data)))
            _get(data, where)[draw(junk())] = draw(bad_value())
        elif op == "typo":
            keyed = [p for p in paths if isinstance(p[-1], str)]
            if keyed:
                path = draw(st.sampled_from(keyed))
                parent = _get(data, path[:-1])
                parent[_typo(path[-1], draw(st.integers(0, 50)))] = parent.pop(path[-1])
        elif op == "executor":
            scenarios = data.setdefault("scenarios", {})
            scenario = scenarios.setdefault("mcp_load", {}) if isinstance(scenarios, dict) else None
            if isinstance(scenario, dict):
                scenario["executor"] = draw(st.sampled_from(_EXECUTORS))
                for key in draw(st.lists(st.sampled_from(["vus", "duration", "rate", "preAllocatedVUs", "stages"]))):
                    scenario[key] = draw(st.one_of(st.sampled_from([1, 0, -1, "1s", [], None]), bad_value()))
        elif op == "duration":
            timed = [p for p in paths if p[-1] in _DURATION_KEYS]
            if timed:
                path = draw(st.sampled_from(timed))
                _get(data, path[:-1])[path[-1]] = draw(duration_value())
        elif op == "template":
            tools = data.get("flow", {}).get("tools") if isinstance(data.get("flow"), dict) else None
            if isinstance(tools, list) and tools and isinstance(tools[0], dict):
                tool = tools[draw(st.integers(0, len(tools) - 1))]
                if isinstance(tool, dict):
                    key = draw(st.sampled_from(["id", "query", "nested"]))
                    value = draw(template_source())
                    tool["arguments"] = {key: value if key != "nested" else {"a": [1, value]}}
        elif op == "threshold":
            thresholds = data.setdefault("thresholds", {})
            if isinstance(thresholds, dict):
                thresholds[draw(metric_key())] = draw(threshold_items())
        elif op == "dataset":
            dataset_name = draw(st.sampled_from(DATASET_NAMES))
            dataset = draw(dataset_bytes())
            spec: dict[str, Any] = {"file": dataset_name}
            if draw(st.booleans()):
                spec["format"] = draw(st.sampled_from([*DATASET_FORMATS, "xml", "", None]))
            if draw(st.booleans()):
                spec["order"] = draw(st.sampled_from(["vu", "sequential", "random", "shuffle", 1]))
            data["datasets"] = {draw(st.sampled_from(["d", "d", "bad name", ""])): spec}
            tools = data.get("flow", {}).get("tools") if isinstance(data.get("flow"), dict) else None
            if isinstance(tools, list) and tools and isinstance(tools[0], dict):
                tools[0]["dataset"] = draw(st.sampled_from(["d", "e", ""]))
                tools[0]["arguments"] = {"id": draw(st.sampled_from(["{{ row.id }}", "{{ row }}", "{{ row['a'] }}"]))}
        elif op == "env":
            strings = [p for p in paths if isinstance(_get(data, p), str)]
            if strings:
                path = draw(st.sampled_from(strings))
                ref = draw(
                    st.sampled_from(
                        [
                            "${" + UNSET + "}",
                            "${" + UNSET + ":-}",
                            "${" + SECRET_ENV + "}",
                            "${ " + UNSET + " }",
                            "${" + UNSET,
                            "${1X}",
                            "${}",
                            "$${" + UNSET + "}",
                            "$" + UNSET,
                            "${A-B}",
                            "${" + UNSET + ":?required}",
                        ]
                    )
                )
                _get(data, path[:-1])[path[-1]] = draw(st.sampled_from(["", "x", "http://"])) + ref
        elif op == "number":
            numeric = [
                p for p in paths if isinstance(_get(data, p), int | float) and not isinstance(_get(data, p), bool)
            ]
            if numeric:
                path = draw(st.sampled_from(numeric))
                _get(data, path[:-1])[path[-1]] = draw(
                    st.sampled_from([10**400, -(10**400), 2**63, float("nan"), float("inf"), -1, 0, 1e-300, 0.5])
                )
    return data, dataset, dataset_name


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's is five times faster


def _dump(data: dict[str, Any], unicode: bool) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=unicode, width=10_000)


_TEXT_INSERTS = [
    ":",
    ": :",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "\t",
    "  ",
    "- ",
    "&anchor ",
    "*anchor",
    "*nope",
    "!!python/object:os.system ",
    "!!str ",
    "!custom ",
    "%YAML 1.1\n",
    "\n---\n",
    "\n...\n",
    "<<: *nope\n",
    "<<: [1]\n",
    "? [a]\n: b\n",
    "\x00",
    "\x07",
    "\x1b",
    "\x85",
    "\u2028",
    "\ufeff",
    "\U0001f4a5",
    "#",
    "@",
    "`",
    "|",
    ">",
    "${",
    "${" + UNSET + "}",
    "\\",
]


@st.composite
def config_text(draw: st.DrawFn) -> tuple[bytes, bytes | None, str]:
    """YAML bytes: the example text or a mutated config, then 0-3 text-level mutations."""
    dataset: bytes | None = None
    dataset_name = "data.json"
    if draw(st.booleans()):
        text = EXAMPLE_TEXT
    else:
        data, dataset, dataset_name = draw(config_data())
        text = _dump(data, draw(st.booleans()))
    for _ in range(draw(st.integers(0 if text is not EXAMPLE_TEXT else 1, 3))):
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "truncate", "indent", "nest", "alias", "swap"]))
        lines = text.split("\n")
        at = draw(st.integers(0, len(text)))
        line_no = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "insert":
            text = text[:at] + draw(st.one_of(st.sampled_from(_TEXT_INSERTS), junk())) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif op == "duplicate":
            lines.insert(line_no, lines[line_no])
            text = "\n".join(lines)
        elif op == "truncate":
            text = text[:at]
        elif op == "indent":
            lines[line_no] = draw(st.sampled_from([" ", "   ", "\t", ""])) + lines[line_no].lstrip(" ")
            text = "\n".join(lines)
        elif op == "nest":
            depth = draw(st.sampled_from([50, 500, 5_000]))
            opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", "")]))
            if opener == "- ":
                text += "\ndeep:\n" + "".join("  " * i + "- \n" for i in range(min(depth, 300)))
            else:
                text += "\ndeep: " + opener * depth + "1" + closer * depth + "\n"
        elif op == "alias":
            text += "\n" + draw(
                st.sampled_from(
                    [
                        # a small "billion laughs" (the full one is test_alias_expansion_is_bounded)
                        "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
                        "loop: &l [*l]\n",
                        "self: &s {a: *s}\n",
                        "m: &m {a: 1}\nn: {<<: *m, <<: *m}\n",
                        "x: *undefined\n",
                    ]
                )
            )
        elif op == "swap":
            lines[line_no] = lines[line_no].replace(":", draw(st.sampled_from(["", "=", " :", ":::", ": -"])), 1)
            text = "\n".join(lines)
    prefix = draw(st.sampled_from([b"", b"", b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\x80", b"\x00", b"#\xc3\x28\n"]))
    return prefix + text.encode("utf-8", "surrogatepass"), dataset, dataset_name


# --- action inputs ------------------------------------------------------------------------------

_URLS = [
    "ftp://example.com/mcp",
    "http://",
    "http:///mcp",
    "http://[::1",
    "http://127.0.0.1:99999/mcp",
    "http://127.0.0.1:0/mcp",
    "https://user:pass@example.com/mcp",
    "javascript:alert(1)",
    "127.0.0.1:8000/mcp",
    "http://exa mple.com/",
    "http://127.0.0.1:8000/mcp\nX: y",
]
_NUMBERS_TEXT = ["0", "-1", "1.5", "1e3", "9" * 40, "9" * 5000, " 5 ", "٥", "0x10", "1_0", "+3", "", "five", "nan"]
_BOOLS = ["yes", "no", "1", "0", "TRUE ", "True", "tRuE", "on", "off", "", "y", "false\n"]
_HEADER_LINES = [
    "NoColon",
    "Bad Name: x",
    ": value",
    "X-Ok: value",
    "X: a\rb",
    "X:\x00",
    "Authorization: Bearer secret",
    "X-Tenant: acme\nBroken",
    "é: x",
    "X-A: 1\nX-A: 2",
]
_THRESHOLD_LINES = [
    "http_req_failed: rate<0.01",
    "http_req_failed rate<0.01",
    "http_req_failed:",
    ": rate<0.01",
    "mcp_tool_duration{tool:a: p(95)<1",
    "mcp_tool_duration{tool:a}: p(95)<1, , p(99)<2",
    "nope: avg<1",
    "# comment",
    "mcp_tool_duration: p(95)<3000, p(99)<nan",
]
_TOOL_LINES = [
    "get_record",
    "get_record: 50",
    "get_record: fifty",
    "get_record: -1",
    "get_record: 0",
    "get_record: nan",
    "get_record: inf",
    'get_record: 50 {"id": "rec_{{ randint(0, 9) }}"}',
    'get_record {"id": "{{ vu "}',
    "get_record {bad json",
    'get_record ["a"]',
    "get_record auto",
    "auto",
    ": 5",
    "{",
    "tools.yaml",
    "missing.yaml",
    "bad.yaml",
    "notlist.json",
    "/etc/passwd.yaml",
    "../outside.yaml",
]
ACTION_INPUTS: dict[str, list[str]] = {
    "url": _URLS,
    "config": ["missing.yaml", "bad.yaml", "tools.yaml", ".", "..", "/", "/etc/passwd", "\x00", "a" * 300],
    "profile": ["Smoke", "stress", "smoke ", "load,spike", "0"],
    "vus": _NUMBERS_TEXT,
    "workers": _NUMBERS_TEXT,
    "duration": NASTY_DURATIONS,
    "transport": ["http", "SSE", "streamable_http", "websocket", "auto auto"],
    "protocol-version": ["2025-06-19", "latest", "2024-11-05 ", "auto2", "1", "2026-07-28\n2025-06-18"],
    "headers": _HEADER_LINES,
    "bearer-token": ["", " ", "a\nb", "token with spaces", "\x00", "é" * 50],
    "thresholds": _THRESHOLD_LINES,
    "tools": _TOOL_LINES,
    "fail-on-thresholds": _BOOLS,
    "summary": _BOOLS,
    "summary-template": ["missing.j2", "bad.yaml", ".", "/", "\x00"],
    "results-dir": ["bad.yaml", "/proc/mcpgate-fuzz", "/dev/null/x", "out\x00dir", "."],
    "baseline": ["missing.json", "bad.yaml", "tools.yaml", ".", "/proc/self/mem", "\x00"],
    "max-regression": ["20%", "-5%", "nan", "inf", "-inf", "1e400", "five", "%", "20%%", "1e3%", "-1", "11"],
    "max-drift": ["20%", "off", "Off", "of", "off%", "-5%", "nan", "inf", "1e400", "five", "%", "1e3%", "-1"],
    "drift-window": NASTY_DURATIONS,
    "environment": ["prod", "Production", "staging ", "dev", ""],
    "allow-production-load": _BOOLS,
    "smoke-only": _BOOLS,
    "smoke-sessions": _NUMBERS_TEXT,
    "min-cert-days": _NUMBERS_TEXT,
    "monitor-url": _URLS,
    "monitor-token": ["", "a\nb", "\x00"],
    "monitor-status-path": ["", ".", "a..b", "[0]", "\x00"],
    "monitor-expected": ["", "UP", "\n"],
    "monitor-wait": NASTY_DURATIONS,
    "monitor-interval": NASTY_DURATIONS,
    "monitor-timeout": NASTY_DURATIONS,
}


@functools.cache
def input_value(name: str) -> st.SearchStrategy[str]:
    specific = st.sampled_from(ACTION_INPUTS[name])
    lines = st.lists(specific, min_size=1, max_size=3).map("\n".join)
    # results-dir is created: generated text stays inside the workspace, only the listed paths leave it
    generated = junk().map(lambda text: text.lstrip("/")) if name == "results-dir" else junk()
    return st.one_of(specific, specific, lines, generated)


@st.composite
def action_environ(draw: st.DrawFn) -> dict[str, str]:
    """INPUT_* variables: a runnable base, then 1-3 inputs set to bad values (names with - or _)."""
    env = {"INPUT_URL": "http://127.0.0.1:9/mcp"}
    if draw(st.booleans()):
        env["INPUT_CONFIG"] = "good.yaml"
    for name in draw(st.lists(st.sampled_from(sorted(ACTION_INPUTS)), min_size=1, max_size=3, unique=True)):
        key = "INPUT_" + name.upper()
        if draw(st.booleans()):
            key = key.replace("-", "_")
        env[key] = draw(input_value(name))
    return env
