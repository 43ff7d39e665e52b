"""The GitHub Action: ``INPUT_*`` variables in, the runner's files out.

This layer only translates. Inputs become the same requests the CLI's flags
become (doors/inputs.py reads them from the request model's own table), the
application checks and runs them, and the results become the runner's files:
``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, annotations, and results, summary
and JUnit files in ``results-dir``. Every path input is relative to the
workspace. Every secret is masked (``::add-mask::``) before anything else is
printed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from mcpgate.app import verbs as app
from mcpgate.app.checks import LOAD_ONLY, Notice, check_step
from mcpgate.app.postdeploy.monitor import (
    MonitorSpec,
    monitor_dict,
    render_monitor_markdown,
    render_monitor_text,
    run_monitor,
)
from mcpgate.app.postdeploy.smoke import render_smoke_markdown, render_smoke_text, run_smoke, smoke_dict
from mcpgate.app.requests import MergeRequest, RunRequest, resolve
from mcpgate.app.run import run_plan
from mcpgate.config import values
from mcpgate.config.target import check_url
from mcpgate.doors.inputs import Inputs
from mcpgate.doors.outputs import annotate, breakpoint_outputs, key_numbers
from mcpgate.doors.runner import Runner
from mcpgate.results.schema import Results
from mcpgate.support import eventloop, exitcodes
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor


@dataclass(frozen=True)
class Step:
    """What this step of a workflow does, besides the run's own options."""

    fail_on_thresholds: bool
    summary: bool
    results_dir: str
    smoke_only: bool
    smoke_sessions: int
    min_cert_days: int | None
    merge: str


@dataclass
class Outcome:
    code: int = exitcodes.OK
    markdown: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def main(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    runner = Runner(env, stream)
    inputs = Inputs(env)
    for secret in inputs.secrets():  # before anything else is printed
        runner.mask(secret)
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    _hand_sigterm_to_python()
    step: Step | None = None
    try:
        step = read_step(inputs)
        result = run_action(inputs, step, runner, workspace)
    except UsageError as exc:
        runner.command("error", str(inputs.relabeled(exc)), title="mcpgate: invalid input")
        runner.set_outputs({"passed": "false", "exit-code": str(exitcodes.INVALID_INPUT)})
        return exitcodes.INVALID_INPUT
    except KeyboardInterrupt:
        runner.set_outputs({"passed": "false", "exit-code": str(exitcodes.INTERRUPTED)})
        return exitcodes.INTERRUPTED
    if step.summary:
        runner.add_summary("\n".join(result.markdown))
    passed = result.code == exitcodes.OK
    runner.set_outputs({"passed": "true" if passed else "false", "exit-code": str(result.code), **result.outputs})
    if result.code == exitcodes.THRESHOLDS_FAILED and not step.fail_on_thresholds:
        return exitcodes.OK
    return result.code


def _hand_sigterm_to_python() -> None:
    """As PID 1 in a container a signal without a handler is ignored; make SIGTERM end the run."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (tests)
        signal.signal(signal.SIGTERM, stop)


def read_step(inputs: Inputs) -> Step:
    """The step's own inputs, and what may not be combined."""
    step = Step(
        fail_on_thresholds=inputs.value("fail-on-thresholds", values.boolean, True),
        summary=inputs.value("summary", values.boolean, True),
        results_dir=inputs.one_line("results-dir") or "mcpgate-results",
        smoke_only=inputs.value("smoke-only", values.boolean, False),
        smoke_sessions=inputs.value("smoke-sessions", values.integer, 3),
        min_cert_days=inputs.value("min-cert-days", values.integer, None),
        merge=inputs.one_line("merge"),
    )
    check_step(
        merge=bool(step.merge),
        smoke_only=step.smoke_only,
        target=bool(inputs.text("url") or inputs.text("config")),
        monitor=bool(inputs.text("monitor-url")),
        load_inputs=inputs.given(LOAD_ONLY),
    )
    return step


def parse_inputs(environ: Mapping[str, str], workspace: Path) -> tuple[Step, RunRequest, MonitorSpec | None]:
    """Every input read for its form, without running anything: what the step would do."""
    inputs = Inputs(environ)
    step = read_step(inputs)
    request = RunRequest(base=workspace, first_baseline_ok=True, **inputs.run_fields())
    return step, request, _monitor_spec(inputs) if inputs.text("monitor-url") else None


def run_action(inputs: Inputs, step: Step, runner: Runner, workspace: Path) -> Outcome:
    outcome = Outcome()
    out_dir = resolve(workspace, Path(step.results_dir)).resolve()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError("results-dir", f"cannot create {step.results_dir}: {exc.strerror or exc}") from None
    if step.merge:
        _merge(inputs, step, runner, workspace=workspace, out_dir=out_dir, outcome=outcome)
    elif inputs.text("url") or inputs.text("config"):
        request = RunRequest(base=workspace, first_baseline_ok=True, **inputs.run_fields(), **_files(out_dir))
        if step.smoke_only:
            _smoke(request, step, runner, out_dir, outcome)
        else:
            _load_test(request, step, runner, out_dir, outcome)
    if inputs.text("monitor-url"):
        _monitor(inputs, runner, out_dir, outcome)
    return outcome


def _files(out_dir: Path) -> dict[str, Any]:
    """The files a run or a merge writes into results-dir."""
    return {"out": out_dir / "results.json", "markdown": out_dir / "summary.md", "junit": out_dir / "junit.xml"}


def _notice(runner: Runner) -> Notice:
    return lambda message: runner.command("notice", message)


def _load_test(request: RunRequest, step: Step, runner: Runner, out_dir: Path, outcome: Outcome) -> None:
    plan, options = app.prepare(request, _notice(runner))
    with runner.group("mcpgate: load test"):
        results = eventloop.run(run_plan(plan, options, out=runner.stream))
    _delivered(results, out_dir, outcome)
    annotate(results, runner, step.fail_on_thresholds)


def _merge(inputs: Inputs, step: Step, runner: Runner, *, workspace: Path, out_dir: Path, outcome: Outcome) -> None:
    """The merge job: the shards' results files in, the run's results, summary, outputs and gate out."""
    fields = inputs.run_fields()
    kept = ("summary_template", "baseline", "max_regression", "max_drift", "drift_window")
    request = MergeRequest(
        files=(step.merge,),
        base=workspace,
        under_base=True,
        first_baseline_ok=True,
        **{k: v for k, v in fields.items() if k in kept},
        **_files(out_dir),
    )
    warn = _warn(runner)
    merged = app.merged(request, notice=_notice(runner), warn=warn)
    results = merged.results
    count = len(results.run.shard.merged) if results.run.shard is not None else 0
    with runner.group(f"mcpgate: merge of {count} shards"):
        app.hand_over(results, request, runner.stream, sys.stderr)
    _delivered(results, out_dir, outcome)
    annotate(results, runner, step.fail_on_thresholds)
    if results.run.status == "aborted" and all(t.ok for t in results.thresholds):
        runner.command("error", results.run.reason, title="mcpgate: a shard was aborted")


def _warn(runner: Runner) -> Notice:
    return lambda message: runner.command("warning", message, title="mcpgate: merge")


def _delivered(results: Results, out_dir: Path, outcome: Outcome) -> None:
    """What a run or a merge hands the runner: its exit code, its job summary and its outputs."""
    paths = _files(out_dir)
    outcome.code = results.run.exit_code
    if paths["markdown"].is_file():
        outcome.markdown.append(paths["markdown"].read_text(encoding="utf-8"))
    outcome.outputs.update(
        {
            "results-path": str(paths["out"]),
            "summary-path": str(paths["markdown"]),
            "junit-path": str(paths["junit"]),
            **key_numbers(results),
            **breakpoint_outputs(results),
        }
    )


def _smoke(request: RunRequest, step: Step, runner: Runner, out_dir: Path, outcome: Outcome) -> None:
    spec, redact = app.target_of(request)
    with runner.group("mcpgate: smoke check"):
        report = eventloop.run(
            run_smoke(
                spec,
                sessions=step.smoke_sessions,
                call="auto",
                min_cert_days=step.min_cert_days,
                require_calls=request.require_calls,
            )
        )
        runner.stream.write(render_smoke_text(report, redact) + "\n")
    path = out_dir / "smoke.json"
    path.write_bytes(orjson.dumps(smoke_dict(report, redact), option=orjson.OPT_INDENT_2))
    outcome.markdown.append(render_smoke_markdown(report, redact))
    outcome.outputs["smoke-path"] = str(path)
    if report.cert is not None:
        outcome.outputs["cert-days"] = str(report.cert.days_left)
    if not report.ok:
        runner.command("error", redact(report.reason or "smoke check failed"), title="mcpgate: smoke check failed")
        outcome.code = outcome.code or exitcodes.CHECK_FAILED


def _monitor_spec(inputs: Inputs) -> MonitorSpec:
    url = inputs.one_line("monitor-url")
    check_url(url, "monitor-url")
    token = inputs.one_line("monitor-token")
    return MonitorSpec(
        url=url,
        token=token or None,
        path=inputs.one_line("monitor-status-path") or "status",
        expected=inputs.one_line("monitor-expected") or "up",
        wait=inputs.value("monitor-wait", values.duration, 0.0),
        interval=inputs.value("monitor-interval", values.duration, 10.0),
        timeout=inputs.value("monitor-timeout", values.duration, 300.0),
    )


def _monitor(inputs: Inputs, runner: Runner, out_dir: Path, outcome: Outcome) -> None:
    spec = _monitor_spec(inputs)
    redact = Redactor([spec.token] if spec.token else [])
    with runner.group("mcpgate: monitor status"):
        report = eventloop.run(run_monitor(spec))
        runner.stream.write(render_monitor_text(report, redact) + "\n")
    path = out_dir / "monitor.json"
    path.write_bytes(orjson.dumps(monitor_dict(report, redact), option=orjson.OPT_INDENT_2))
    outcome.markdown.append(render_monitor_markdown(report, redact))
    outcome.outputs["monitor-path"] = str(path)
    outcome.outputs["monitor-status"] = report.observed or ""
    if not report.ok:
        runner.command("error", redact(report.reason or "monitor check failed"), title="mcpgate: monitor check failed")
        outcome.code = outcome.code or exitcodes.CHECK_FAILED
