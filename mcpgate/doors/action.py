"""The GitHub Action: ``INPUT_*`` variables in, the runner's files out.

This layer only translates. Inputs become the same ``Overrides`` the CLI's
flags become (so a run is the same run whichever door it came through), and
the run's results become the runner's files: ``GITHUB_OUTPUT``,
``GITHUB_STEP_SUMMARY``, annotations, and results, summary and JUnit files in
``results-dir``. Every secret is masked (``::add-mask::``) before anything
else is printed.

The runner passes inputs as ``INPUT_<NAME>``, upper case with hyphens kept
(``INPUT_BEARER-TOKEN``); ``docker run -e`` users may write underscores, which
shells can export. Outside GitHub (``GITHUB_ACTIONS`` unset) no workflow
commands are printed, and files are written only where their variables point.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets as random_tokens
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson
import yaml

from mcpgate.app.run import RunOptions, run_plan
from mcpgate.config.assemble import Overrides, assemble
from mcpgate.config.loader import validate_config
from mcpgate.config.models import MAX_VUS
from mcpgate.config.profiles import PROFILES
from mcpgate.config.target import check_url, parse_header
from mcpgate.config.thresholds import parse_cli_threshold
from mcpgate.engine.shard import MAX_WORKERS, Shard, parse_shard
from mcpgate.plan.build import build_plan, production_guard, shard_guard
from mcpgate.protocol.versions import AUTO, KNOWN_VERSIONS
from mcpgate.results.io import read
from mcpgate.results.schema import Results
from mcpgate.support import eventloop, exitcodes
from mcpgate.support.durations import parse_duration
from mcpgate.support.errors import UsageError
from mcpgate.verdict.drift import DEFAULT_MAX_DRIFT, worst_p95_change
from mcpgate.workload.inputs import ArgumentTemplate

STEP_SUMMARY_LIMIT = 1024 * 1024  # GitHub drops a step summary over 1 MiB
SUMMARY_BUDGET = STEP_SUMMARY_LIMIT - 16 * 1024  # room for what other sections add
TRUE = ("true", "True", "TRUE")
FALSE = ("false", "False", "FALSE")


# -- workflow commands ------------------------------------------------------------------


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Runner:
    """Talks to the GitHub runner: workflow commands on stdout, and its files."""

    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None) -> None:
        self.on_github = environ.get("GITHUB_ACTIONS") == "true"
        self.stream = stream or sys.stdout
        self.output_file = environ.get("GITHUB_OUTPUT") or None
        self.summary_file = environ.get("GITHUB_STEP_SUMMARY") or None

    def command(self, name: str, message: str = "", **props: str) -> None:
        if not self.on_github:
            if name in ("error", "warning", "notice"):
                title = f"{props['title']}: " if props.get("title") else ""
                self.stream.write(f"{name}: {title}{message}\n")
            return
        rendered = ",".join(f"{k}={escape_property(v)}" for k, v in props.items() if v)
        self.stream.write(f"::{name}{' ' + rendered if rendered else ''}::{escape_data(message)}\n")
        self.stream.flush()

    def mask(self, secret: str) -> None:
        for line in secret.splitlines() or [secret]:
            if line.strip():
                self.command("add-mask", line)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.on_github:
            self.command("group", title)
        else:
            self.stream.write(f"== {title}\n")
        self.stream.flush()
        try:
            yield
        finally:
            if self.on_github:
                self.command("endgroup")

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        if self.output_file is None:
            return
        with open(self.output_file, "a", encoding="utf-8") as out:
            for name, value in outputs.items():
                delimiter = f"ghadelimiter_{random_tokens.token_hex(8)}"
                out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def add_summary(self, markdown: str) -> None:
        if self.summary_file is None or not markdown:
            return
        data = markdown.encode("utf-8")
        if len(data) > SUMMARY_BUDGET:
            cut = data[:SUMMARY_BUDGET].decode("utf-8", "ignore")
            markdown = cut.rsplit("\n", 1)[0] + "\n\n_(summary cut to stay under GitHub's 1 MiB limit)_\n"
        with open(self.summary_file, "a", encoding="utf-8") as out:
            out.write(markdown)


# -- inputs -----------------------------------------------------------------------------


def read_input(environ: Mapping[str, str], name: str) -> str:
    key = "INPUT_" + name.replace(" ", "_").upper()
    value = environ.get(key)
    if value is None:
        value = environ.get(key.replace("-", "_"), "")
    return value.strip()


@dataclass
class Inputs:
    url: str = ""
    config: str = ""
    profile: str = ""
    vus: int | None = None
    duration: float | None = None
    transport: str = ""
    protocol_version: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    bearer_token: str = ""
    thresholds: list[str] = field(default_factory=list)  # in --threshold form: METRIC=EXPR,EXPR
    tools: list[dict[str, Any]] | None = None
    fail_on_thresholds: bool = True
    summary: bool = True
    summary_template: str = ""
    results_dir: str = "mcpgate-results"
    baseline: str = ""
    max_regression: str = ""
    environment: str = "staging"
    allow_production_load: bool = False
    smoke_only: bool = False
    smoke_sessions: int = 3
    min_cert_days: int | None = None
    monitor_url: str = ""
    monitor_token: str = ""
    monitor_status_path: str = "status"
    monitor_expected: str = "up"
    monitor_wait: float = 0.0
    monitor_interval: float = 10.0
    monitor_timeout: float = 300.0
    workers: int | None = None  # None: one per available core
    max_drift: float | None = DEFAULT_MAX_DRIFT  # None: drift reported, not gated
    drift_window: float | None = None  # None: 10 minutes, or a quarter of a shorter steady load
    shard: Shard | None = None  # I/N: this job runs part I of N of every scenario
    start_at: float | None = None  # unix time the load starts at (every shard's t = 0)
    merge: str = ""  # a glob of shards' results files under the workspace: merge them instead of running
    min_breaking_point: float | None = None
    breakpoint: dict[str, Any] | None = None  # keys of the config's breakpoint section

    def secrets(self) -> list[str]:
        found = [self.bearer_token, self.monitor_token]
        found += [value for name, value in self.headers.items() if _sensitive(name)]
        return [s for s in found if s]


def _sensitive(name: str) -> bool:
    from mcpgate.support.redact import sensitive_name

    return sensitive_name(name)


def raw_secrets(environ: Mapping[str, str]) -> list[str]:
    """The secret inputs as given, before any parsing can fail and print: masked first of all."""
    found = [read_input(environ, "bearer-token"), read_input(environ, "monitor-token")]
    for line in read_input(environ, "headers").splitlines():
        name, sep, value = line.partition(":")
        if sep and _sensitive(name.strip()) and value.strip():
            found.append(value.strip())
            _, _, credential = value.strip().partition(" ")
            if credential:
                found.append(credential.strip())
    return [s for s in found if s]


def parse_inputs(environ: Mapping[str, str], workspace: Path) -> Inputs:
    def get(name: str) -> str:
        return read_input(environ, name)

    for name in _ONE_LINE:
        _one_line(get(name), name)
    inputs = Inputs()
    inputs.url = get("url")
    if inputs.url:
        check_url(inputs.url, "url")
    inputs.config = get("config")
    inputs.profile = get("profile")
    if inputs.profile and inputs.profile not in PROFILES:
        raise UsageError("profile", f"expected one of {', '.join(PROFILES)}, got {inputs.profile!r}")
    inputs.vus = _int(get("vus"), "vus", minimum=1, maximum=MAX_VUS)
    inputs.duration = _duration(get("duration"), "duration")
    if inputs.duration is not None and inputs.duration <= 0:
        raise UsageError("duration", "must be more than 0")
    inputs.transport = get("transport")
    if inputs.transport and inputs.transport not in ("auto", "streamable-http", "sse"):
        raise UsageError("transport", f"expected auto, streamable-http or sse, got {inputs.transport!r}")
    inputs.protocol_version = get("protocol-version")
    if inputs.protocol_version and inputs.protocol_version not in (AUTO, *KNOWN_VERSIONS):
        versions = ", ".join((AUTO, *KNOWN_VERSIONS))
        raise UsageError("protocol-version", f"expected one of {versions}, got {inputs.protocol_version!r}")
    for number, line in enumerate(get("headers").splitlines(), 1):
        if line.strip():
            name, value = parse_header(line, f"headers (line {number})")
            inputs.headers[name] = value
    inputs.bearer_token = get("bearer-token")
    inputs.thresholds = _thresholds(get("thresholds"))
    inputs.tools = _tools(get("tools"), workspace)
    inputs.fail_on_thresholds = _bool(get("fail-on-thresholds"), "fail-on-thresholds", True)
    inputs.summary = _bool(get("summary"), "summary", True)
    inputs.summary_template = get("summary-template")
    inputs.results_dir = get("results-dir") or "mcpgate-results"
    inputs.baseline = get("baseline")
    inputs.max_regression = get("max-regression")
    _max_regression(inputs.max_regression)  # checked now, used once the plan is built
    inputs.environment = get("environment") or "staging"
    if inputs.environment not in ("staging", "production"):
        raise UsageError("environment", f"expected staging or production, got {inputs.environment!r}")
    inputs.allow_production_load = _bool(get("allow-production-load"), "allow-production-load", False)
    inputs.smoke_only = _bool(get("smoke-only"), "smoke-only", False)
    inputs.smoke_sessions = _int(get("smoke-sessions"), "smoke-sessions", minimum=1) or 3
    inputs.min_cert_days = _int(get("min-cert-days"), "min-cert-days", minimum=0)
    inputs.monitor_url = get("monitor-url")
    if inputs.monitor_url:
        check_url(inputs.monitor_url, "monitor-url")
    inputs.monitor_token = get("monitor-token")
    inputs.monitor_status_path = get("monitor-status-path") or "status"
    inputs.monitor_expected = get("monitor-expected") or "up"
    inputs.monitor_wait = _duration(get("monitor-wait"), "monitor-wait") or 0.0
    inputs.monitor_interval = _duration(get("monitor-interval"), "monitor-interval") or 10.0
    inputs.monitor_timeout = _duration(get("monitor-timeout"), "monitor-timeout") or 300.0
    inputs.workers = _int(get("workers"), "workers", minimum=0, maximum=MAX_WORKERS) or None
    inputs.max_drift = _max_drift(get("max-drift"))
    inputs.drift_window = _duration(get("drift-window"), "drift-window")
    if inputs.drift_window is not None and inputs.drift_window <= 0:
        raise UsageError("drift-window", "must be more than 0")
    _scale_out(inputs, get)
    if inputs.merge:
        return inputs
    inputs.min_breaking_point = _level(get("min-breaking-point"), "min-breaking-point")
    inputs.breakpoint = _breakpoint(get("breakpoint"))
    if not inputs.url and not inputs.config and not inputs.monitor_url:
        raise UsageError("url", "give url (or config) for a load test or smoke check, or monitor-url")
    if inputs.smoke_only and not inputs.url and not inputs.config:
        raise UsageError("smoke-only", "needs url (or config)")
    return inputs


# Inputs that are one value each: a line break or a control character in one is a mistake (a YAML
# block scalar where a plain value was meant), never part of a path, a URL or a token.
_ONE_LINE = (
    "url",
    "config",
    "vus",
    "workers",
    "duration",
    "bearer-token",
    "summary-template",
    "results-dir",
    "baseline",
    "max-regression",
    "max-drift",
    "drift-window",
    "monitor-url",
    "monitor-token",
    "monitor-status-path",
    "monitor-expected",
    "shard",
    "start-at",
    "merge",
    "min-breaking-point",
)

# What only a load test reads: a merge job runs no load, so setting one of these there is a mistake.
_LOAD_ONLY = ("url", "config", "profile", "vus", "duration", "workers", "thresholds", "tools", "shard", "start-at")


def _scale_out(inputs: Inputs, get: Callable[[str], str]) -> None:
    """``shard``, ``start-at`` and ``merge``, checked as the CLI checks --shard, --start-at and merge."""
    from mcpgate.support.startat import parse_start_at

    if get("shard"):
        try:
            inputs.shard = parse_shard(get("shard"))
        except ValueError as exc:
            raise UsageError("shard", str(exc)) from None
    if get("start-at"):
        try:
            inputs.start_at = parse_start_at(get("start-at"), time.time())
        except ValueError as exc:
            raise UsageError("start-at", str(exc)) from None
    inputs.merge = get("merge")
    if inputs.merge:
        given = [name for name in _LOAD_ONLY if get(name)]
        if given:
            raise UsageError("merge", f"merges the shards' results instead of running a load: drop {', '.join(given)}")
        if inputs.smoke_only:
            raise UsageError("merge", "merges the shards' results; it runs no smoke check (drop smoke-only)")


def _one_line(text: str, name: str) -> None:
    if not text.isprintable():  # the value is never repeated: it may be a secret
        raise UsageError(name, "must be one line, without control characters")


def _bool(text: str, name: str, default: bool) -> bool:
    if not text:
        return default
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise UsageError(name, f"expected true or false, got {text!r}")


def _int(text: str, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(name, f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise UsageError(name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise UsageError(name, f"must be at most {maximum}")
    return value


def _duration(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(name, str(exc)) from None


def _level(text: str, name: str) -> float | None:
    """A breakpoint level: a number above 0 (iterations/s, or VUs)."""
    if not text:
        return None
    try:
        value = float(text.removesuffix("/s"))
    except ValueError:
        raise UsageError(name, f"expected a number like 100, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(name, f"expected a number above 0, got {text!r}")
    return value


def _breakpoint(text: str) -> dict[str, Any] | None:
    """The search's steps as the config's ``breakpoint`` section: ``key: value`` lines (YAML), checked alone."""
    if not text:
        return None
    try:
        section = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError("breakpoint", f"not a YAML mapping ({str(exc).splitlines()[0]})") from None
    if not isinstance(section, dict):
        raise UsageError("breakpoint", "expected 'key: value' lines, e.g. 'start: 10', 'step: 10', 'max: 200'")
    try:
        validate_config({"target": {"url": "http://localhost/"}, "breakpoint": section}, {}, "breakpoint")
    except UsageError as exc:  # "breakpoint.step: must be > 0, got -1"
        raise UsageError("breakpoint", exc.message.removeprefix("breakpoint.").removeprefix("breakpoint: ")) from None
    return section


def _thresholds(text: str) -> list[str]:
    """``metric: expr[, expr]`` lines -> ``metric=expr,expr`` (the --threshold form)."""
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        depth = 0
        split = -1
        for index, char in enumerate(line):
            depth += char == "{"
            depth -= char == "}"
            if char == ":" and depth == 0:
                split = index
                break
        if split < 0:
            hint = "expected 'metric: expr[, expr]', e.g. http_req_failed: rate<0.01"
            raise UsageError(f"thresholds (line {number})", hint)
        metric, exprs = line[:split].strip(), [e.strip() for e in line[split + 1 :].split(",") if e.strip()]
        entry = f"{metric}={','.join(exprs)}"
        try:
            parse_cli_threshold(entry)
        except ValueError as exc:
            raise UsageError(f"thresholds (line {number})", str(exc).removeprefix(f"--threshold {entry!r}: ")) from None
        found.append(entry)
    return found


def _tools(text: str, workspace: Path) -> list[dict[str, Any]] | None:
    """A weighted mix, one ``name[: weight] [arguments]`` per line (arguments: a JSON object or
    ``auto``); or the path of a YAML/JSON file holding the same list as ``flow.tools``."""
    if not text:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if len(lines) == 1 and lines[0].endswith((".yaml", ".yml", ".json")):
        path = workspace / lines[0]
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError("tools", f"{lines[0]}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UsageError("tools", f"{lines[0]}: not valid UTF-8") from None
        except ValueError:  # a NUL in the name
            raise UsageError("tools", f"{lines[0]}: not a valid file name") from None
        except yaml.YAMLError as exc:
            raise UsageError("tools", f"{lines[0]}: not valid YAML or JSON ({str(exc).splitlines()[0]})") from None
        except RecursionError:
            raise UsageError("tools", f"{lines[0]}: nested too deeply") from None
        if isinstance(loaded, dict) and "tools" in loaded:
            loaded = loaded["tools"]
        if not isinstance(loaded, list) or not all(isinstance(t, dict) for t in loaded):
            raise UsageError("tools", f"{lines[0]}: expected a list of tools like flow.tools")
        for index, item in enumerate(loaded, 1):
            _check_tool(item, "tools", f"{lines[0]}: item {index}: ")
        return loaded
    tools: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        where = f"tools (line {number})"
        head, brace, rest = line.partition("{")
        arguments: Any = {}
        if brace:
            try:
                arguments = orjson.loads("{" + rest)
            except orjson.JSONDecodeError:
                raise UsageError(where, "the arguments after the name are not a JSON object") from None
        elif head.rstrip().endswith(" auto") or head.strip() == "auto":
            arguments = "auto"
            head = head.rstrip()[: -len("auto")]
        name, _, weight = head.partition(":")
        name, weight = name.strip(), weight.strip()
        if not name:
            raise UsageError(where, 'expected \'name[: weight] [arguments]\', e.g. get_record: 50 {"id": "rec_1"}')
        tool: dict[str, Any] = {"name": name, "arguments": arguments}
        if weight:
            try:
                tool["weight"] = float(weight)
            except ValueError:
                raise UsageError(where, f"weight must be a number, got {weight!r}") from None
        _check_tool(tool, where)
        tools.append(tool)
    return tools


def _check_tool(tool: dict[str, Any], where: str, prefix: str = "") -> None:
    """What the config would say about this ``flow.tools`` item, said about the input."""
    try:
        config = validate_config({"target": {"url": "http://localhost/"}, "flow": {"tools": [tool]}}, {}, where)
    except UsageError as exc:  # "flow.tools.0.weight: must be > 0, got -1.0"
        raise UsageError(where, prefix + exc.message.removeprefix("flow.tools.0.")) from None
    arguments = config.flow.tools[0].arguments
    if isinstance(arguments, dict):
        try:
            ArgumentTemplate(arguments, "arguments")
        except UsageError as exc:
            raise UsageError(where, f"{prefix}{exc.field}: {exc.message}") from None


# -- the action -------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int = exitcodes.OK
    markdown: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def main(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    runner = Runner(env, stream)
    for secret in raw_secrets(env):  # before anything else is printed
        runner.mask(secret)
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    _hand_sigterm_to_python()
    try:
        inputs = parse_inputs(env, workspace)
        result = run_action(inputs, runner, workspace)
    except UsageError as exc:
        runner.command("error", str(exc), title="mcpgate: invalid input")
        runner.set_outputs({"passed": "false", "exit-code": str(exitcodes.INVALID_INPUT)})
        return exitcodes.INVALID_INPUT
    except KeyboardInterrupt:
        runner.set_outputs({"passed": "false", "exit-code": str(exitcodes.INTERRUPTED)})
        return exitcodes.INTERRUPTED
    if inputs.summary:
        runner.add_summary("\n".join(result.markdown))
    passed = result.code == exitcodes.OK
    runner.set_outputs({"passed": "true" if passed else "false", "exit-code": str(result.code), **result.outputs})
    if result.code == exitcodes.THRESHOLDS_FAILED and not inputs.fail_on_thresholds:
        return exitcodes.OK
    return result.code


def _hand_sigterm_to_python() -> None:
    """As PID 1 in a container a signal without a handler is ignored; make SIGTERM end the run."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (tests)
        signal.signal(signal.SIGTERM, stop)


def run_action(inputs: Inputs, runner: Runner, workspace: Path) -> Outcome:
    outcome = Outcome()
    out_dir = (workspace / inputs.results_dir).resolve()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError("results-dir", f"cannot create {inputs.results_dir}: {exc.strerror or exc}") from None
    if inputs.merge:
        _merge(inputs, runner, workspace, out_dir, outcome)
    elif inputs.url or inputs.config:
        if inputs.smoke_only:
            _smoke(inputs, runner, out_dir, outcome)
        else:
            _load_test(inputs, runner, workspace, out_dir, outcome)
    if inputs.monitor_url:
        _monitor(inputs, runner, out_dir, outcome)
    return outcome


def _overrides(inputs: Inputs) -> Overrides:
    target: dict[str, object] = {}
    if inputs.transport:
        target["transport"] = inputs.transport
    if inputs.protocol_version:
        target["protocol_version"] = inputs.protocol_version
    if inputs.bearer_token:
        target["bearer_token"] = inputs.bearer_token
    return Overrides(
        url=inputs.url or None,
        target=target,
        headers=inputs.headers,
        profile=inputs.profile or None,
        vus=inputs.vus,
        duration=inputs.duration,
        thresholds=tuple(inputs.thresholds),
        tools=tuple(inputs.tools) if inputs.tools is not None else None,
        min_breaking_point=inputs.min_breaking_point,
        breakpoint=inputs.breakpoint,
    )


def _load_test(inputs: Inputs, runner: Runner, workspace: Path, out_dir: Path, outcome: Outcome) -> None:
    config = workspace / inputs.config if inputs.config else None
    plan = build_plan(assemble(config, _overrides(inputs)))
    if inputs.environment == "production":
        production_guard(plan, inputs.allow_production_load)
    shard_guard(plan, inputs.shard is not None, "shard")
    baseline = _baseline(inputs, runner, workspace)
    template = _template(inputs, workspace)
    max_regression = _max_regression(inputs.max_regression)
    paths = _paths(out_dir)
    options = RunOptions(
        out=paths["results"],
        markdown=paths["summary"],
        junit=paths["junit"],
        summary_template=template,
        baseline=baseline,
        max_regression=max_regression,
        workers=inputs.workers,
        max_drift=inputs.max_drift,
        drift_window=inputs.drift_window,
        shard=inputs.shard,
        start_at=inputs.start_at,
    )
    with runner.group("mcpgate: load test"):
        results = eventloop.run(run_plan(plan, options, out=runner.stream))
    _delivered(results, paths, outcome)
    _annotate(results, runner, inputs.fail_on_thresholds)


def _merge(inputs: Inputs, runner: Runner, workspace: Path, out_dir: Path, outcome: Outcome) -> None:
    """The merge job: the shards' results files in, the run's results, summary, outputs and gate out."""
    from mcpgate.app.deliver import Outputs, deliver
    from mcpgate.app.merge import expand, judged, merge, read_shard

    paths = _paths(out_dir)
    try:
        files = expand([inputs.merge], base=workspace, skip=paths.values())
    except UsageError as exc:
        raise UsageError("merge", str(exc)) from None
    shards = [read_shard(f, str(f.relative_to(workspace)) if f.is_relative_to(workspace) else str(f)) for f in files]
    merged = merge(shards)
    results = judged(
        merged,
        baseline=_baseline(inputs, runner, workspace),
        max_regression=_max_regression(inputs.max_regression),
        max_drift=inputs.max_drift,
        window=inputs.drift_window,
    )
    template = _template(inputs, workspace)
    for warning in merged.warnings:
        runner.command("warning", warning, title="mcpgate: merge")
    options = Outputs(out=paths["results"], markdown=paths["summary"], junit=paths["junit"], summary_template=template)
    with runner.group(f"mcpgate: merge of {len(shards)} shards"):
        deliver(results, options, runner.stream, sys.stderr)
    _delivered(results, paths, outcome)
    _annotate(results, runner, inputs.fail_on_thresholds)
    if results.run.status == "aborted" and all(t.ok for t in results.thresholds):
        runner.command("error", results.run.reason, title="mcpgate: a shard was aborted")


def _paths(out_dir: Path) -> dict[str, Path]:
    return {"results": out_dir / "results.json", "summary": out_dir / "summary.md", "junit": out_dir / "junit.xml"}


def _baseline(inputs: Inputs, runner: Runner, workspace: Path) -> Results | None:
    """The baseline input's results; a file not there yet is the first run (a notice), not an error."""
    if not inputs.baseline:
        return None
    path = workspace / inputs.baseline
    if not _is_file(path, "baseline", inputs.baseline):
        runner.command("notice", f"no baseline at {inputs.baseline} yet: this run will be the first")
        return None
    try:
        return read(path)
    except (OSError, ValueError) as exc:
        raise UsageError("baseline", f"{inputs.baseline}: {str(exc).splitlines()[0]}") from None


def _template(inputs: Inputs, workspace: Path) -> Path | None:
    template = workspace / inputs.summary_template if inputs.summary_template else None
    if template is not None and not _is_file(template, "summary-template", inputs.summary_template):
        raise UsageError("summary-template", f"{inputs.summary_template}: no such file")
    return template


def _delivered(results: Results, paths: dict[str, Path], outcome: Outcome) -> None:
    """What a run or a merge hands the runner: its exit code, its job summary and its outputs."""
    outcome.code = results.run.exit_code
    if paths["summary"].is_file():
        outcome.markdown.append(paths["summary"].read_text(encoding="utf-8"))
    outcome.outputs.update(
        {
            "results-path": str(paths["results"]),
            "summary-path": str(paths["summary"]),
            "junit-path": str(paths["junit"]),
            **key_numbers(results),
            **breakpoint_outputs(results),
        }
    )


def _is_file(path: Path, name: str, shown: str) -> bool:
    """Whether ``path`` is a file; a name the system refuses (too long, a loop) is the input's error."""
    try:
        return path.is_file()
    except OSError as exc:
        raise UsageError(name, f"{shown}: {exc.strerror or exc}") from None


def _max_regression(text: str) -> float:
    from mcpgate.verdict.baseline import DEFAULT_MAX_REGRESSION

    if not text:
        return DEFAULT_MAX_REGRESSION
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError("max-regression", f"expected a percentage like 20%, got {text!r}") from None
    value = value / 100 if value > 1 and not raw.endswith("%") else value
    if not 0 <= value <= 10:  # as the --max-regression flag; NaN fails this too
        raise UsageError("max-regression", f"expected a percentage between 0% and 1000%, got {text!r}")
    return value


def _max_drift(text: str) -> float | None:
    """``max-drift``: a percentage as ``max-regression`` takes, or ``off`` to report drift without gating."""
    if not text:
        return DEFAULT_MAX_DRIFT
    if text.lower() == "off":
        return None
    try:
        return _max_regression(text)
    except UsageError as exc:
        raise UsageError("max-drift", exc.message.replace("like 20%", "like 20% or off", 1)) from None


def key_numbers(results: Results) -> dict[str, str]:
    """The outputs later steps read: p95 (tool calls, else all requests), error rate, throughput."""
    p95 = results.metric("mcp_tool_duration", "p(95)")
    if p95 is None:
        p95 = results.metric("http_req_duration", "p(95)")
    checks = results.metric("checks", "rate")
    rps = results.metric("http_reqs", "rate")
    drift = worst_p95_change(results.drift)
    return {
        "p95-ms": f"{p95:.3f}" if p95 is not None else "",
        "error-rate": f"{1 - checks:.6f}" if checks is not None else "",
        "rps": f"{rps:.3f}" if rps is not None else "",
        "drift": f"{drift * 100:.1f}" if drift is not None else "",
    }


def breakpoint_outputs(results: Results) -> dict[str, str]:
    """A breakpoint search's result for later steps: the short human value and the numbers.

    ``breaking-point-rate`` is in iterations/s: the arrival rate held, or with executor: vus the
    throughput measured at the breaking point; 0 when no step held. ``breaking-point-vus`` is
    the VU count held (executor: vus only).
    """
    search = results.breakpoint
    if search is None:
        return {}
    vus = search.breaking_point if search.executor == "vus" and search.breaking_point is not None else None
    return {
        "breaking-point": search.headline,
        "breaking-point-rate": f"{round(search.rate, 3):g}" if search.rate is not None else "",
        "breaking-point-vus": f"{vus:g}" if vus is not None else "",
    }


def _annotate(results: Results, runner: Runner, fail_on_thresholds: bool) -> None:
    from mcpgate.report.thresholds import measured

    level = "error" if fail_on_thresholds else "warning"
    for t in results.thresholds:
        if not t.ok:
            runner.command(level, f"{t.expression} failed: {measured(results, t)}", title=t.metric)
    status = results.run.status
    if status in ("not_started", "interrupted", "error"):
        runner.command("error", results.run.reason or status, title=f"mcpgate: {status.replace('_', ' ')}")
    elif results.baseline is not None and not results.baseline.ok:
        runner.command(level, results.run.reason, title="mcpgate: regression against the baseline")
    elif results.breakpoint is not None and status == "failed":
        runner.command(level, results.run.reason, title="mcpgate: breakpoint search")
    elif results.breakpoint is not None and results.breakpoint.headline:
        runner.command("notice", results.run.reason, title=f"mcpgate: breaking point {results.breakpoint.headline}")
    if results.drift is not None and not results.drift.ok and status not in ("not_started", "interrupted", "error"):
        runner.command(level, results.drift.reason, title="mcpgate: drift over the steady load")


def _smoke(inputs: Inputs, runner: Runner, out_dir: Path, outcome: Outcome) -> None:
    from mcpgate.app.postdeploy.smoke import render_smoke_markdown, render_smoke_text, run_smoke, smoke_dict

    plan = build_plan(assemble(None if not inputs.config else Path(inputs.config), _overrides(inputs)))
    with runner.group("mcpgate: smoke check"):
        report = eventloop.run(
            run_smoke(plan.connect, sessions=inputs.smoke_sessions, call="auto", min_cert_days=inputs.min_cert_days)
        )
        runner.stream.write(render_smoke_text(report, plan.redact) + "\n")
    path = out_dir / "smoke.json"
    path.write_bytes(orjson.dumps(smoke_dict(report, plan.redact), option=orjson.OPT_INDENT_2))
    outcome.markdown.append(render_smoke_markdown(report, plan.redact))
    outcome.outputs["smoke-path"] = str(path)
    if report.cert is not None:
        outcome.outputs["cert-days"] = str(report.cert.days_left)
    if not report.ok:
        runner.command("error", plan.redact(report.reason or "smoke check failed"), title="mcpgate: smoke check failed")
        outcome.code = outcome.code or exitcodes.CHECK_FAILED


def _monitor(inputs: Inputs, runner: Runner, out_dir: Path, outcome: Outcome) -> None:
    from mcpgate.app.postdeploy.monitor import (
        MonitorSpec,
        monitor_dict,
        render_monitor_markdown,
        render_monitor_text,
        run_monitor,
    )
    from mcpgate.support.redact import Redactor

    redact = Redactor([inputs.monitor_token])
    spec = MonitorSpec(
        url=inputs.monitor_url,
        token=inputs.monitor_token or None,
        path=inputs.monitor_status_path,
        expected=inputs.monitor_expected,
        wait=inputs.monitor_wait,
        interval=inputs.monitor_interval,
        timeout=inputs.monitor_timeout,
    )
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
