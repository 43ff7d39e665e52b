"""JUnit XML: each threshold and each check a test case, so GitLab, Jenkins and CircleCI show failures natively.

A pure function of ``Results``. One ``<testsuite name="mcpgate">``: test cases
in class ``thresholds`` (named "METRIC EXPRESSION", failing with the measured
value), in class ``checks`` (failing with "N of M failed"), for a breakpoint
search a case ``breakpoint`` (failing when no step held or the breaking point
is below ``min_breaking_point``), and, when the run
did not start, was interrupted or stopped on an internal error, a case ``run``
with an ``<error>`` that gives the status and reason. When drift was judged,
each of its measures is a case in class ``drift`` (failing when it drifted
past the limit, skipped when it had too few samples). The run's warnings (a run that called
no tool) are ``warning`` properties and the suite's ``system-out``: they fail nothing. Failed checks appear as
failures although they do not change mcpgate's exit code: CI dashboards are
where people look for them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from mcpgate.report.thresholds import measured
from mcpgate.results.schema import Results
from mcpgate.verdict.drift import change_text, label
from mcpgate.verdict.drift import shown as drift_shown

_CHECK_PREFIX = "checks{check:"
_RUN_ERRORS = {"not_started", "interrupted", "error"}
# Characters XML 1.0 forbids anywhere, even escaped: ElementTree would write them and break the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object) -> str:
    """Text that XML 1.0 can carry: forbidden characters are dropped (ElementTree escapes the rest)."""
    return _NOT_XML.sub("", "" if value is None else str(value))


def checks(results: Results) -> list[tuple[str, int, int]]:
    """(check name, passes, fails) for every ``checks{check:NAME}`` sub-metric, in the results' order."""
    out: list[tuple[str, int, int]] = []
    for key, entry in results.metrics.items():
        if key.startswith(_CHECK_PREFIX) and key.endswith("}"):
            out.append((key[len(_CHECK_PREFIX) : -1], round(entry.values["passes"]), round(entry.values["fails"])))
    return out


def render_junit(results: Results) -> str:
    """The whole document: an XML declaration and an indented ``<testsuites>``."""
    suite = ET.Element("testsuite", name="mcpgate")
    _properties(suite, results)
    for add in (_thresholds, _checks, _drift, _breakpoint, _run):
        add(suite, results)
    cases = suite.findall("testcase")
    if results.warnings:  # warnings fail nothing: said beside the cases, after them as the schema orders it
        ET.SubElement(suite, "system-out").text = xml_text("\n".join(f"WARNING: {w}" for w in results.warnings))
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(1 for c in cases if c.find("failure") is not None)),
        "errors": str(sum(1 for c in cases if c.find("error") is not None)),
        "skipped": str(sum(1 for c in cases if c.find("skipped") is not None)),
    }
    run = results.run
    time = f"{run.duration_s:.3f}"
    suite.attrib.update(counts, time=time, timestamp=xml_text(run.started_at))
    root = ET.Element("testsuites", {"name": "mcpgate", **counts, "time": time})
    root.append(suite)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _properties(suite: ET.Element, results: Results) -> None:
    run = results.run
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("status", run.status),
        ("exit_code", run.exit_code),
        ("target", results.target.url),
        ("transport", results.target.transport),
        ("protocol_version", results.target.protocol_version),
        ("profile", run.profile),
        ("config_digest", run.config_digest),
        ("mcpgate_version", run.mcpgate_version),
    ):
        if value not in (None, ""):
            ET.SubElement(properties, "property", name=name, value=xml_text(value))
    for warning in results.warnings:
        ET.SubElement(properties, "property", name="warning", value=xml_text(warning))


def _thresholds(suite: ET.Element, results: Results) -> None:
    for t in results.thresholds:
        case = _case(suite, "thresholds", f"{t.metric} {t.expression}")
        shown = measured(results, t)
        if not t.ok:
            message = shown if t.value is None else f"{shown}, expected {t.expression}"
            if t.aborted_run:
                message += " (stopped the run)"
            failure = ET.SubElement(case, "failure", message=xml_text(message), type="threshold")
            failure.text = xml_text(
                f"{t.metric} {t.expression} failed: {message}" + (f"\n{t.reason}" if t.reason else "")
            )
        ET.SubElement(case, "system-out").text = xml_text(shown)


def _checks(suite: ET.Element, results: Results) -> None:
    for name, passes, fails in checks(results):
        case = _case(suite, "checks", name)
        if fails > 0:
            message = f"{fails:,} of {passes + fails:,} failed"
            ET.SubElement(case, "failure", message=xml_text(message), type="check").text = xml_text(message)


def _drift(suite: ET.Element, results: Results) -> None:
    report = results.drift
    if report is None or not report.judged:
        return
    for row in report.rows:
        case = _case(suite, "drift", label(row))
        shown = f"{drift_shown(row, row.first)} -> {drift_shown(row, row.last)} ({change_text(row)})"
        if row.drifted:
            limit = f"{report.max_drift:.0%}" if report.max_drift is not None else "off"
            message = f"{shown}, limit {limit}"
            ET.SubElement(case, "failure", message=xml_text(message), type="drift").text = xml_text(
                f"{label(row)} drifted: {message}"
            )
        elif not row.judged:
            ET.SubElement(case, "skipped", message=xml_text(f"not judged: {row.note}"))
        ET.SubElement(case, "system-out").text = xml_text(shown)


def _breakpoint(suite: ET.Element, results: Results) -> None:
    search = results.breakpoint
    if search is None or not search.complete:
        return
    gate = f" >= {search.show(search.min_breaking_point)}" if search.min_breaking_point is not None else ""
    case = _case(suite, "breakpoint", f"breaking point{gate}")
    if search.gate_ok is False or (search.breaking_point is None and search.broken_step is not None):
        failure = ET.SubElement(case, "failure", message=xml_text(search.reason), type="breakpoint")
        failure.text = xml_text(search.reason)
    ET.SubElement(case, "system-out").text = xml_text(search.headline)


def _run(suite: ET.Element, results: Results) -> None:
    run = results.run
    if run.status not in _RUN_ERRORS:
        return
    case = _case(suite, "run", "run")
    message = f"{run.status.replace('_', ' ')} (exit {run.exit_code})" + (f": {run.reason}" if run.reason else "")
    ET.SubElement(case, "error", message=xml_text(message), type=run.status).text = xml_text(message)


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=xml_text(name), time="0")
