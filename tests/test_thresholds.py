from __future__ import annotations

import contextlib
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpgate.config.models import ThresholdItem
from mcpgate.config.thresholds import Threshold, merge_cli, parse_cli_threshold, parse_threshold, thresholds_from_config
from mcpgate.metrics.catalog import MetricType
from mcpgate.metrics.keys import MetricKey, Observe, parse_metric_key
from mcpgate.verdict.thresholds import Verdict, describe, evaluate, evaluate_all, should_abort

TOOL = "mcp_tool_duration"


def observing(values: dict[tuple[str, str], float]) -> Observe:
    """An Observe over canonical key + aggregation; anything missing has no samples."""

    def observe(key: MetricKey, aggregation: str) -> float | None:
        return values.get((str(key), aggregation))

    return observe


def one(
    expression: str,
    observed: float | None,
    *,
    abort_on_fail: bool = False,
    delay_abort_eval: float = 0.0,
    allow_no_data: bool = False,
) -> Verdict:
    """The verdict on mcp_tool_duration when Observe answers ``observed``."""
    threshold = parse_threshold(
        TOOL,
        expression,
        abort_on_fail=abort_on_fail,
        delay_abort_eval=delay_abort_eval,
        allow_no_data=allow_no_data,
    )
    return evaluate(threshold, lambda _key, _agg: observed)


# --- the seed guide ----------------------------------------------------------

SEED: dict[str, list[str | ThresholdItem]] = {
    "http_req_failed": ["rate<0.01"],
    "mcp_init_errors": ["count<5"],
    "mcp_tool_errors": ["rate<0.02"],
    "mcp_init_duration": ["p(95)<1000"],
    # The seed's JS object named mcp_tool_duration twice, so k6 kept only the last; one list keeps both.
    "mcp_tool_duration": ["p(95)<3000", "p(99)<8000"],
}


def test_seed_thresholds_parse() -> None:
    parsed = thresholds_from_config(SEED)
    assert [(str(t.key), t.aggregation, t.op, t.limit) for t in parsed] == [
        ("http_req_failed", "rate", "<", 0.01),
        ("mcp_init_errors", "count", "<", 5.0),
        ("mcp_tool_errors", "rate", "<", 0.02),
        ("mcp_init_duration", "p(95)", "<", 1000.0),
        (TOOL, "p(95)", "<", 3000.0),
        (TOOL, "p(99)", "<", 8000.0),
    ]


def test_seed_thresholds_both_tool_duration_expressions_are_evaluated() -> None:
    observe = observing(
        {
            ("http_req_failed", "rate"): 0.004,
            ("mcp_init_errors", "count"): 2,
            ("mcp_tool_errors", "rate"): 0.01,
            ("mcp_init_duration", "p(95)"): 640.5,
            (TOOL, "p(95)"): 2900.0,
            (TOOL, "p(99)"): 9100.25,
        }
    )
    verdicts = evaluate_all(thresholds_from_config(SEED), observe)
    assert len(verdicts) == 6
    failed = [v for v in verdicts if not v.ok]
    assert [v.threshold.source for v in failed] == ["p(99)<8000"]
    assert failed[0].reason == "p(99)=9100.25 (limit <8000)"
    tool = [v for v in verdicts if v.threshold.key.name == TOOL]
    assert [(v.threshold.aggregation, v.ok, v.observed) for v in tool] == [
        ("p(95)", True, 2900.0),
        ("p(99)", False, 9100.25),
    ]


# --- operators and aggregations ----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "observed", "ok"),
    [
        ("avg<100", 99.9, True),
        ("avg<100", 100, False),
        ("avg<=100", 100, True),
        ("avg<=100", 100.01, False),
        ("avg>100", 100.01, True),
        ("avg>100", 100, False),
        ("avg>=100", 100, True),
        ("avg>=100", 99.99, False),
        ("avg==100", 100, True),
        ("avg==100", 100.5, False),
        ("avg===100", 100, True),  # k6 reads "===" as "=="
        ("avg!=100", 100.5, True),
        ("avg!=100", 100, False),
    ],
)
def test_every_operator(expression: str, observed: float, ok: bool) -> None:
    assert one(expression, observed).ok is ok


def test_triple_equals_is_normalized() -> None:
    assert parse_threshold(TOOL, "avg===1").op == "=="


def test_comparison_is_exact_floating_point() -> None:
    just_over = math.nextafter(3000.0, math.inf)
    verdict = one("p(95)<3000", just_over)
    assert not verdict.ok
    assert verdict.reason == f"p(95)={just_over!r} (limit <3000)"
    assert one("p(95)<=3000", 3000.0).ok


def test_nan_compares_as_in_k6() -> None:
    assert not one("avg<1", math.nan).ok
    assert not one("avg>=1", math.nan).ok
    assert one("avg!=1", math.nan).ok


@pytest.mark.parametrize(
    ("metric", "expression", "aggregation"),
    [
        (TOOL, "avg<1", "avg"),
        (TOOL, "min<1", "min"),
        (TOOL, "med<1", "med"),
        (TOOL, "max<1", "max"),
        (TOOL, "count>1", "count"),
        (TOOL, "p(90)<1", "p(90)"),
        ("http_req_failed", "rate<0.1", "rate"),
        ("checks", "rate>0.99", "rate"),
        ("http_reqs", "count>10", "count"),
        ("http_reqs", "rate>50", "rate"),  # per second on a counter, as in k6
        ("data_received", "count>0", "count"),
        ("vus", "value<=10", "value"),
        ("vus", "min>0", "min"),
        ("vus_max", "max<100", "max"),
    ],
)
def test_every_aggregation_on_its_types(metric: str, expression: str, aggregation: str) -> None:
    assert parse_threshold(metric, expression).aggregation == aggregation


@pytest.mark.parametrize(
    ("metric", "expression", "message"),
    [
        (
            TOOL,
            "rate<1",
            "'rate' does not apply to trend metric 'mcp_tool_duration' (use avg, min, med, max, p(N), count)",
        ),
        (TOOL, "value<1", "'value' does not apply to trend metric"),
        ("http_req_failed", "count<5", "'count' does not apply to rate metric 'http_req_failed' (use rate)"),
        ("http_req_failed", "p(95)<5", "'p(95)' does not apply to rate metric"),
        ("http_reqs", "avg<5", "'avg' does not apply to counter metric 'http_reqs' (use count, rate)"),
        ("http_reqs", "p(99)<5", "'p(99)' does not apply to counter metric"),
        ("vus", "avg<5", "'avg' does not apply to gauge metric 'vus' (use value, min, max)"),
        ("vus", "count<5", "'count' does not apply to gauge metric"),
    ],
)
def test_aggregation_must_suit_the_metric_type(metric: str, expression: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_threshold(metric, expression)


def test_rate_metric_rate_is_a_fraction() -> None:
    assert parse_threshold("http_req_failed", "rate<=1").limit == 1
    assert parse_threshold("http_req_failed", "rate>=0").limit == 0
    with pytest.raises(ValueError, match=r"fraction from 0 to 1 \(0.02 means 2%\), got 2$"):
        parse_threshold("mcp_tool_errors", "rate<2")


@pytest.mark.parametrize(
    ("expression", "aggregation"),
    [
        ("p(95)<1", "p(95)"),
        ("p(99.9)<1", "p(99.9)"),
        ("p(99.90)<1", "p(99.9)"),
        ("p(95.0)<1", "p(95)"),
        ("p(100)<1", "p(100)"),
        ("p(.5)<1", "p(0.5)"),
        ("p(0.001)<1", "p(0.001)"),
        ("p(1e1)<1", "p(10)"),
    ],
)
def test_percentiles_are_normalized(expression: str, aggregation: str) -> None:
    assert parse_threshold(TOOL, expression).aggregation == aggregation


@pytest.mark.parametrize("percent", ["0", "-1", "100.5", "101", "0.0"])
def test_percentile_outside_range(percent: str) -> None:
    with pytest.raises(ValueError, match=r"outside \(0, 100\]"):
        parse_threshold(TOOL, f"p({percent})<1")


@pytest.mark.parametrize("expression", ["p()<1", "p(99<1", "p(NaN)<1", "p(+Inf)<1", "p(foo)<1", "p(9 5)<1"])
def test_malformed_percentile(expression: str) -> None:
    with pytest.raises(ValueError, match="cannot parse threshold"):
        parse_threshold(TOOL, expression)


# --- syntax and whitespace ---------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "p(95)<3000",
        "p(95) < 3000",
        "  p(95)<3000  ",
        "p(95)\t<\t3000",
        "p(95)   <=3000",
        "p(95)<=   3000",
        "\np(95)<3000\n",
        "p(95)\xa0<\xa03000",  # Go's TrimSpace takes Unicode spaces too
    ],
)
def test_whitespace_k6_accepts(expression: str) -> None:
    threshold = parse_threshold(TOOL, expression)
    assert (threshold.aggregation, threshold.limit) == ("p(95)", 3000.0)
    assert threshold.source == expression


@pytest.mark.parametrize(
    ("text", "limit"),
    [("1e3", 1000.0), ("+5", 5.0), ("-1", -1.0), (".5", 0.5), ("5.", 5.0), ("007", 7.0), ("2.5E-1", 0.25)],
)
def test_limits(text: str, limit: float) -> None:
    assert parse_threshold(TOOL, f"avg<{text}").limit == limit


@pytest.mark.parametrize(
    "expression",
    [
        "p95<3000",
        "p (95)<1",
        "p( 95 )<1",
        "avg<3 000",
        "avg < = 5",
        "avg => 5",
        "avg=5",
        "avg!5",
        "AVG<5",
        "avg<",
        "<5",
        "avg<NaN",
        "avg<inf",
        "avg<0x10",
        "avg<1_000",
        "avg<５",
        "avg<5ms",
        "",
        "avg",
    ],
)
def test_syntax_errors(expression: str) -> None:
    with pytest.raises(
        ValueError, match=r"cannot parse threshold .*expected AGGREGATION OP NUMBER, e\.g\. p\(95\)<3000"
    ):
        parse_threshold(TOOL, expression)


def test_syntax_error_message_is_one_line() -> None:
    with pytest.raises(ValueError, match="p95") as caught:
        parse_threshold(TOOL, "p95<3000")
    assert str(caught.value) == (
        "cannot parse threshold 'p95<3000': expected AGGREGATION OP NUMBER, e.g. p(95)<3000 (unknown aggregation 'p95')"
    )


def test_limit_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_threshold(TOOL, "avg<1e999")


def test_unknown_metric_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match=r"^unknown metric 'mcp_tool_duraton' \(did you mean 'mcp_tool_duration'\?\)$"):
        parse_threshold("mcp_tool_duraton", "p(95)<3000")
    with pytest.raises(ValueError, match=r"^unknown metric 'zzz'$"):
        parse_threshold("zzz", "avg<1")


def test_custom_metrics() -> None:
    custom = {"orders_latency": MetricType.TREND, "orders_failed": MetricType.RATE}
    assert parse_threshold("orders_latency", "p(99)<5", custom_metrics=custom).aggregation == "p(99)"
    with pytest.raises(ValueError, match=r"did you mean 'orders_latency'"):
        parse_threshold("orders_latancy", "p(99)<5", custom_metrics=custom)
    with pytest.raises(ValueError, match="does not apply to rate metric 'orders_failed'"):
        parse_threshold("orders_failed", "avg<5", custom_metrics=custom)


def test_custom_metric_cannot_redefine_a_builtin() -> None:
    with pytest.raises(ValueError, match="does not apply to trend"):
        parse_threshold(TOOL, "rate<1", custom_metrics={TOOL: MetricType.COUNTER})


def test_options_are_kept() -> None:
    threshold = parse_threshold(TOOL, "p(95)<1", abort_on_fail=True, delay_abort_eval=30, allow_no_data=True)
    assert (threshold.abort_on_fail, threshold.delay_abort_eval, threshold.allow_no_data) == (True, 30, True)
    with pytest.raises(ValueError, match="delay_abort_eval"):
        parse_threshold(TOOL, "p(95)<1", delay_abort_eval=-1)


# --- metric keys -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("mcp_tool_duration", "mcp_tool_duration"),
        ("  mcp_tool_duration ", "mcp_tool_duration"),
        ("mcp_tool_duration{tool:search}", "mcp_tool_duration{tool:search}"),
        ("mcp_tool_duration{tool:a,scenario:b}", "mcp_tool_duration{scenario:b,tool:a}"),
        ("mcp_tool_duration{ scenario : b ,  tool:a }", "mcp_tool_duration{scenario:b,tool:a}"),
        ("mcp_tool_duration{tool:'search'}", "mcp_tool_duration{tool:search}"),
        ('mcp_tool_duration{"tool":"search"}', "mcp_tool_duration{tool:search}"),
        ("checks{check:status is 200}", "checks{check:status is 200}"),
        ("checks{check:url:http://x/y}", "checks{check:url:http://x/y}"),  # the first ':' splits
        ("checks{check:it's}", "checks{check:it's}"),
    ],
)
def test_metric_keys(text: str, canonical: str) -> None:
    key = parse_metric_key(text)
    assert str(key) == canonical
    assert parse_metric_key(str(key)) == key


def test_metric_key_fields() -> None:
    assert parse_metric_key("a{y:2, x:1}") == MetricKey("a", (("x", "1"), ("y", "2")))
    assert parse_metric_key("a{x:1,y:2}") == parse_metric_key("a{ y:2, x:1 }")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a metric name"),
        ("1abc", "not a metric name"),
        ("a b", "not a metric name"),
        ("a {tool:x}", "not a metric name"),
        ("{tool:x}", "not a metric name"),
        ("a{", "must end with '}'"),
        ("a{tool:x", "must end with '}'"),
        ("a{tool:x}b", "must end with '}'"),
        ("a}", "'}' without a '{'"),
        ("a{}", "empty tag selector"),
        ("a{  }", "empty tag selector"),
        ("a{tool}", "must be written tag:value"),
        ("a{tool:}", "no value"),
        ("a{tool:''}", "no value"),
        ("a{:x}", "no name"),
        ("a{tool:x,}", "empty tag between commas"),
        ("a{tool:x,,scenario:y}", "empty tag between commas"),
        ("a{tool:x{y}}", "brace inside"),
        ("a{tool:x,tool:y}", "names tag 'tool' twice"),
    ],
)
def test_bad_metric_keys(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_metric_key(text)


def test_sub_metric_thresholds() -> None:
    threshold = parse_threshold("mcp_tool_duration{tool:search, scenario:smoke}", "p(95)<500")
    assert threshold.key == MetricKey(TOOL, (("scenario", "smoke"), ("tool", "search")))
    observe = observing({("mcp_tool_duration{scenario:smoke,tool:search}", "p(95)"): 800})
    assert evaluate(threshold, observe).reason == "p(95)=800 (limit <500)"


def test_sub_metric_unknown_tag() -> None:
    with pytest.raises(
        ValueError, match=r"unknown tag 'status' in 'mcp_tool_duration\{status:200\}'.*scenario, method"
    ):
        parse_threshold("mcp_tool_duration{status:200}", "p(95)<500")
    with pytest.raises(ValueError, match=r"did you mean 'scenario'"):
        parse_threshold("mcp_tool_duration{senario:a}", "p(95)<500")


# --- config ------------------------------------------------------------------


def test_threshold_items_carry_their_options() -> None:
    item = ThresholdItem.model_validate({"threshold": "rate<0.05", "abortOnFail": True, "delayAbortEval": "1m"})
    (threshold,) = thresholds_from_config({"http_req_failed": [item]})
    assert (threshold.source, threshold.abort_on_fail, threshold.delay_abort_eval, threshold.allow_no_data) == (
        "rate<0.05",
        True,
        60.0,
        False,
    )
    (quiet,) = thresholds_from_config(
        {"mcp_tool_errors": [ThresholdItem.model_validate({"threshold": "rate<0.1", "allow_no_data": True})]}
    )
    assert quiet.allow_no_data


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({TOOL: ["p(95)<1", "p95<3000"]}, "thresholds.mcp_tool_duration: cannot parse threshold 'p95<3000'"),
        ({"mcp_tool_duraton": ["avg<1"]}, "thresholds.mcp_tool_duraton: unknown metric 'mcp_tool_duraton'"),
        ({"a{": ["avg<1"]}, "thresholds.a{: metric 'a{' must end with '}'"),
        ({TOOL: "p(95)<1"}, "thresholds.mcp_tool_duration: expected a list of expressions"),
        ({TOOL: [3]}, "thresholds.mcp_tool_duration: expected an expression or a threshold item, got int"),
    ],
)
def test_config_errors_start_with_the_metric_key(raw: dict[str, list[str | ThresholdItem]], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        thresholds_from_config(raw)


def test_empty_config() -> None:
    assert thresholds_from_config({}) == []
    assert thresholds_from_config({TOOL: []}) == []


# --- the command line --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mcp_tool_duration=p(95)<3000", (TOOL, ["p(95)<3000"])),
        ("mcp_tool_duration=p(95)<3000,p(99)<8000", (TOOL, ["p(95)<3000", "p(99)<8000"])),
        (" mcp_tool_duration = p(95) < 3000 , p(99)<8000 ", (TOOL, ["p(95) < 3000", "p(99)<8000"])),
        (
            "mcp_tool_duration{tool:a,scenario:b}=p(95)<=10",
            ("mcp_tool_duration{tool:a,scenario:b}", ["p(95)<=10"]),
        ),
        ("checks{check:a=b}=rate>0.9", ("checks{check:a=b}", ["rate>0.9"])),
        ("vus=value==3", ("vus", ["value==3"])),
        ("vus=value!=3", ("vus", ["value!=3"])),
    ],
)
def test_cli_threshold(text: str, expected: tuple[str, list[str]]) -> None:
    assert parse_cli_threshold(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mcp_tool_duration", "expected METRIC=EXPR"),
        ("mcp_tool_duration p(95)<3000", "expected METRIC=EXPR"),
        ("=p(95)<3000", "no metric before '='"),
        ("mcp_tool_duration=", "an expression is empty"),
        ("mcp_tool_duration=p(95)<3000,", "an expression is empty"),
        ("mcp_tool_duration=p95<3000", "cannot parse threshold 'p95<3000'"),
        ("mcp_tool_duration{tool:a=p(95)<3000", "is never closed"),
        ("mcp tool=p(95)<3000", "not a metric name"),
    ],
)
def test_bad_cli_threshold(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_cli_threshold(text)


def test_merge_adds_and_replaces() -> None:
    file: dict[str, list[str | ThresholdItem]] = {
        "http_req_failed": ["rate<0.01"],
        TOOL: ["p(95)<3000", "p(99)<8000"],
    }
    merged = merge_cli(file, ["mcp_tool_duration=p(95)<2000", "mcp_init_errors=count<1"])
    assert merged == {
        "http_req_failed": ["rate<0.01"],
        TOOL: ["p(95)<2000"],
        "mcp_init_errors": ["count<1"],
    }
    assert file[TOOL] == ["p(95)<3000", "p(99)<8000"]  # the input is left alone


def test_merge_compares_keys_canonically() -> None:
    file: dict[str, list[str | ThresholdItem]] = {
        "mcp_tool_duration{tool:a,scenario:b}": ["p(95)<1"],
        "mcp_tool_duration{scenario:b,tool:a}": ["p(99)<2"],
        TOOL: ["avg<3"],
    }
    merged = merge_cli(file, ["mcp_tool_duration{ scenario:b, tool:'a' }=max<9"])
    assert merged == {"mcp_tool_duration{tool:a,scenario:b}": ["max<9"], TOOL: ["avg<3"]}


def test_merge_several_cli_entries_for_one_metric_add_up() -> None:
    item = ThresholdItem.model_validate({"threshold": "p(95)<3000", "abort_on_fail": True})
    merged = merge_cli({TOOL: [item]}, ["mcp_tool_duration=p(95)<1", "mcp_tool_duration=p(99)<2,max<3"])
    assert merged == {TOOL: ["p(95)<1", "p(99)<2", "max<3"]}
    assert merge_cli({TOOL: [item]}, []) == {TOOL: [item]}


def test_merge_leaves_bad_file_keys_for_config_validation() -> None:
    merged = merge_cli({"a{": ["avg<1"]}, ["vus=value<2"])
    assert merged == {"a{": ["avg<1"], "vus": ["value<2"]}
    with pytest.raises(ValueError, match="expected METRIC=EXPR"):
        merge_cli({}, ["nonsense"])


def test_merged_thresholds_validate() -> None:
    merged = merge_cli(SEED, ["mcp_tool_duration=p(95)<2500"])
    parsed = thresholds_from_config(merged)
    assert [t.source for t in parsed if t.key.name == TOOL] == ["p(95)<2500"]


# --- no data, abort, describe ------------------------------------------------


def test_no_data_fails_unless_allowed() -> None:
    verdict = one("p(95)<3000", None)
    assert (verdict.ok, verdict.observed, verdict.reason) == (False, None, "no data")
    allowed = one("p(95)<3000", None, allow_no_data=True)
    assert (allowed.ok, allowed.observed, allowed.reason) == (True, None, "")


def test_observe_gets_key_and_aggregation() -> None:
    seen: list[tuple[MetricKey, str]] = []

    def observe(key: MetricKey, aggregation: str) -> float | None:
        seen.append((key, aggregation))
        return 1.0

    evaluate(parse_threshold("mcp_tool_duration{tool:x}", "p(99.90)<5"), observe)
    assert seen == [(MetricKey(TOOL, (("tool", "x"),)), "p(99.9)")]


def _aborting(expression: str, observed: float | None, delay: float = 0.0) -> Verdict:
    return one(expression, observed, abort_on_fail=True, delay_abort_eval=delay)


def test_abort_on_fail() -> None:
    failing = _aborting("p(95)<3000", 5000)
    assert should_abort([failing], elapsed=0.0) is failing
    assert should_abort([one("p(95)<3000", 5000)], elapsed=100.0) is None  # not abort_on_fail
    assert should_abort([_aborting("p(95)<3000", 10)], elapsed=100.0) is None  # passing
    assert should_abort([], elapsed=1.0) is None


def test_abort_waits_for_its_delay() -> None:
    failing = _aborting("p(95)<3000", 5000, delay=30.0)
    assert should_abort([failing], elapsed=29.9) is None
    assert should_abort([failing], elapsed=30.0) is failing
    assert should_abort([failing], elapsed=31.0) is failing


def test_no_data_never_aborts() -> None:
    no_data = _aborting("p(95)<3000", None)
    assert not no_data.ok
    assert should_abort([no_data], elapsed=1e9) is None


def test_abort_returns_the_first_that_qualifies() -> None:
    waiting = _aborting("p(95)<3000", 5000, delay=60.0)
    first = _aborting("p(99)<8000", 9000)
    second = _aborting("max<10000", 20000)
    assert should_abort([one("avg<1", 2), waiting, first, second], elapsed=10.0) is first


def test_describe() -> None:
    assert describe(one("p(95)<3000", 4120.3)) == "mcp_tool_duration p(95)<3000: p(95)=4120.3 ✗"
    assert describe(one(" p(95) < 3000 ", 120.0)) == "mcp_tool_duration p(95) < 3000: p(95)=120 ✓"
    assert describe(one("p(95)<3000", None)) == "mcp_tool_duration p(95)<3000: no data ✗"
    assert describe(one("p(95)<3000", None, allow_no_data=True)) == "mcp_tool_duration p(95)<3000: no data ✓"
    sub = parse_threshold("mcp_tool_duration{tool:x}", "avg<1")
    assert describe(evaluate(sub, lambda _k, _a: 0.5)) == "mcp_tool_duration{tool:x} avg<1: avg=0.5 ✓"


def test_threshold_and_verdict_are_values() -> None:
    a = parse_threshold(TOOL, "p(95)<3000")
    assert a == parse_threshold(TOOL, "p(95)<3000")
    assert isinstance(hash(a), int)
    with pytest.raises(AttributeError):
        a.limit = 1  # type: ignore[misc]
    assert isinstance(evaluate(a, lambda _k, _g: 1.0), Verdict)
    assert Threshold(a.key, a.source, a.aggregation, a.op, a.limit) == a


# --- arbitrary input ---------------------------------------------------------

_GRAMMAR = st.text(alphabet=st.sampled_from(list("pavgmincoutrelxs_(){}:,='\"<>!.0123456789eE+- \t\xa0")), max_size=40)
_ANY = st.one_of(st.text(max_size=60), _GRAMMAR)
_FAST = settings(max_examples=300, deadline=None, database=None)


@_FAST
@given(metric=_ANY, expression=_ANY)
def test_parse_threshold_only_raises_value_error(metric: str, expression: str) -> None:
    with contextlib.suppress(ValueError):
        parse_threshold(metric, expression)
    with contextlib.suppress(ValueError):
        parse_threshold(TOOL, expression)


@_FAST
@given(text=_ANY)
def test_parse_metric_key_only_raises_value_error_and_round_trips(text: str) -> None:
    try:
        key = parse_metric_key(text)
    except ValueError:
        return
    assert parse_metric_key(str(key)) == key


@_FAST
@given(text=st.one_of(_ANY, st.builds(lambda a, b: f"{a}={b}", _ANY, _ANY)))
def test_parse_cli_threshold_only_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_cli_threshold(text)


_TAG_VALUE = st.text(alphabet=st.characters(exclude_characters=",{}"), min_size=1, max_size=12)


@_FAST
@given(tags=st.dictionaries(st.sampled_from(["scenario", "method", "tool", "check"]), _TAG_VALUE, max_size=4))
def test_generated_keys_round_trip(tags: dict[str, str]) -> None:
    text = TOOL + ("{" + ",".join(f"{k}:{v}" for k, v in tags.items()) + "}" if tags else "")
    try:
        key = parse_metric_key(text)
    except ValueError:
        return  # a value of only spaces or quotes
    assert parse_metric_key(str(key)) == key
    assert [k for k, _ in key.tags] == sorted(tags)
