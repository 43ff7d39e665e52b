"""JUnit XML: one case per threshold and per check, a run case when the run did not finish, always well formed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mcpgate.report.junit import checks, render_junit, xml_text
from mcpgate.results.io import read
from mcpgate.results.schema import MetricEntry, Results

DATA = Path(__file__).resolve().parent.parent / "data"
FIXTURES = ["results-passed.json", "results-failed.json"]


def load(name: str) -> Results:
    return read(DATA / name)


def parse(results: Results) -> tuple[ET.Element, ET.Element]:
    text = render_junit(results)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    assert suites[0].get("name") == "mcpgate"
    return root, suites[0]


def cases(suite: ET.Element, classname: str) -> list[ET.Element]:
    return [c for c in suite.findall("testcase") if c.get("classname") == classname]


@pytest.mark.parametrize("name", FIXTURES)
def test_counts_match_the_results(name: str) -> None:
    results = load(name)
    root, suite = parse(results)
    found = checks(results)
    assert found  # both fixtures record checks
    tests = len(results.thresholds) + len(found)
    failures = sum(not t.ok for t in results.thresholds) + sum(1 for _, _, fails in found if fails)
    for element in (root, suite):
        assert element.get("tests") == str(tests)
        assert element.get("failures") == str(failures)
        assert element.get("errors") == "0"
        assert float(element.get("time", "")) == pytest.approx(results.run.duration_s)
    assert len(suite.findall("testcase")) == tests
    assert len(suite.findall("testcase/failure")) == failures
    assert suite.get("timestamp") == results.run.started_at
    assert not cases(suite, "run")


@pytest.mark.parametrize("name", FIXTURES)
def test_each_threshold_is_a_case_failing_with_its_measured_value(name: str) -> None:
    results = load(name)
    _, suite = parse(results)
    thresholds = cases(suite, "thresholds")
    assert [c.get("name") for c in thresholds] == [f"{t.metric} {t.expression}" for t in results.thresholds]
    for t, case in zip(results.thresholds, thresholds, strict=True):
        failure = case.find("failure")
        assert (failure is None) == t.ok
    failed = next(c for c in thresholds if c.find("failure") is not None) if name.endswith("failed.json") else None
    if failed is not None:
        failure = failed.find("failure")
        assert failure is not None
        assert failure.get("message") == "p(95)=4.56s, expected p(95)<100"


def test_a_failed_threshold_without_data_says_no_data() -> None:
    results = load("results-failed.json")
    thresholds = [t.model_copy(update={"ok": False, "value": None}) for t in results.thresholds[:1]]
    _, suite = parse(results.model_copy(update={"thresholds": thresholds}))
    failure = cases(suite, "thresholds")[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "no data"


def test_each_check_is_a_case_failing_with_how_many_failed() -> None:
    results = load("results-passed.json")
    metrics = dict(results.metrics)
    metrics["checks{check:tools/call flaky is ok}"] = MetricEntry(
        type="rate", values={"rate": 0.75, "passes": 3000.0, "fails": 1000.0}
    )
    _, suite = parse(results.model_copy(update={"metrics": metrics}))
    by_name = {c.get("name"): c for c in cases(suite, "checks")}
    assert set(by_name) == {
        "server/discover is ok",
        "tools/list is ok",
        "tools/call get_record is ok",
        "tools/call search_records is ok",
        "tools/call fetch_external_data is ok",
        "tools/call flaky is ok",
    }
    failure = by_name["tools/call flaky is ok"].find("failure")
    assert failure is not None
    assert failure.get("message") == "1,000 of 4,000 failed"
    assert by_name["tools/list is ok"].find("failure") is None


@pytest.mark.parametrize("status", ["not_started", "interrupted", "error"])
def test_a_run_that_did_not_finish_is_an_error_case(status: str) -> None:
    results = load("results-failed.json")
    run = results.run.model_copy(update={"status": status, "exit_code": 103, "reason": "connection refused"})
    root, suite = parse(results.model_copy(update={"run": run}))
    (case,) = cases(suite, "run")
    error = case.find("error")
    assert error is not None
    message = error.get("message", "")
    assert message.startswith(status.replace("_", " "))
    assert message.endswith("connection refused")
    assert "exit 103" in message
    assert root.get("errors") == suite.get("errors") == "1"
    assert suite.get("tests") == str(len(suite.findall("testcase")))


def test_an_aborted_run_has_no_run_case() -> None:
    results = load("results-failed.json")
    run = results.run.model_copy(update={"status": "aborted"})
    _, suite = parse(results.model_copy(update={"run": run}))
    assert not cases(suite, "run")


def test_hostile_text_still_gives_well_formed_xml() -> None:
    results = load("results-failed.json")
    nasty = '</failure><x a="1"> & \'single\' "double" ]]> \x00\x01\x08\x0b\x1b\ufffe\ud800 end\ttab\nline'
    run = results.run.model_copy(update={"status": "error", "reason": nasty})
    thresholds = [t.model_copy(update={"reason": nasty, "metric": "m{tool:<&>}"}) for t in results.thresholds]
    metrics = {"checks{check:" + nasty + "}": MetricEntry(type="rate", values={"rate": 0.5, "passes": 1, "fails": 1})}
    hostile = results.model_copy(update={"run": run, "thresholds": thresholds, "metrics": metrics})
    _, suite = parse(hostile)
    (case,) = cases(suite, "run")
    error = case.find("error")
    assert error is not None
    message = error.get("message", "")
    assert '</failure><x a="1"> & \'single\' "double" ]]>' in message
    assert not any(ch in message for ch in "\x00\x01\x08\x0b\x1b\ufffe")
    assert message.endswith("end\ttab\nline")
    assert all(c.get("name", "").startswith("m{tool:<&>}") for c in cases(suite, "thresholds"))
    assert cases(suite, "checks")[0].get("name", "").startswith("</failure>")


def test_xml_text_drops_only_what_xml_forbids() -> None:
    assert xml_text("a\x00b\x1fc\td\ne\rf\ufffeg\U0001f600") == "abc\td\ne\rfg\U0001f600"
    assert xml_text(None) == ""
    assert xml_text(99) == "99"
