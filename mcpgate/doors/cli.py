"""The command line: one verb per job, every bad input a one-line error with exit 104."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import orjson

from mcpgate import __version__
from mcpgate.config.assemble import Overrides
from mcpgate.config.models import MAX_VUS, TargetConfig
from mcpgate.config.profiles import PROFILES
from mcpgate.config.target import check_url, parse_header
from mcpgate.doors.merge import register as register_merge
from mcpgate.doors.postdeploy import register as register_postdeploy
from mcpgate.engine.shard import MAX_WORKERS, parse_shard
from mcpgate.protocol.http import DEFAULT_MAX_RESPONSE_BYTES
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.protocol.transport import LEGACY_SSE, TRANSPORTS
from mcpgate.protocol.versions import AUTO, KNOWN_VERSIONS, is_modern
from mcpgate.support import eventloop, exitcodes
from mcpgate.support.durations import parse_duration
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor
from mcpgate.verdict.baseline import DEFAULT_MAX_REGRESSION
from mcpgate.verdict.drift import DEFAULT_MAX_DRIFT

if TYPE_CHECKING:
    from mcpgate.engine.shard import Shard
    from mcpgate.results.schema import Results

TOKEN_ENV = "MCPGATE_BEARER_TOKEN"


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are ours: one line, exit 104."""

    def error(self, message: str) -> NoReturn:
        raise UsageError("", f"{self.prog}: {message}")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # Python 3.11 reads "--timeout=--" as an empty list, never calling the flag's type.
        if arg_strings == ["--"] and action.option_strings and action.nargs is None:
            self.error(f"argument {'/'.join(action.option_strings)}: expected one argument")
        return super()._get_values(action, arg_strings)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_target_options(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """Target flags; without defaults (for run) a flag only overrides the config when given."""

    def d(value: object) -> object:
        return value if defaults else None

    g = p.add_argument_group("target")
    g.add_argument("--transport", choices=[AUTO, *TRANSPORTS], default=d(AUTO), help="default: auto (detect)")
    g.add_argument("--protocol-version", choices=[AUTO, *KNOWN_VERSIONS], default=d(AUTO), help="default: auto")
    g.add_argument("--expect-protocol-version", choices=KNOWN_VERSIONS, help="fail unless the server speaks this")
    g.add_argument(
        "--header", "-H", action="append", default=[], metavar="NAME:VALUE", help="extra request header (repeatable)"
    )
    g.add_argument("--bearer-token", help=f"sent as 'Authorization: Bearer …'; prefer the {TOKEN_ENV} variable")
    g.add_argument("--timeout", type=_duration, default=d(10.0), help="per request, until its response (default 10s)")
    g.add_argument("--connect-timeout", type=_duration, default=d(5.0), help="TCP+TLS connect (default 5s)")
    g.add_argument(
        "--max-response-bytes",
        type=int,
        default=d(DEFAULT_MAX_RESPONSE_BYTES),
        help=f"largest response read before failing it (default {DEFAULT_MAX_RESPONSE_BYTES})",
    )
    g.add_argument("--insecure", action="store_true", default=d(False), help="do not verify TLS certificates")
    g.add_argument("--ca-file", metavar="PEM", help="also trust this CA bundle (a private CA)")


def _headers(args: argparse.Namespace, *, env: bool) -> tuple[dict[str, str], str | None]:
    """--header lines and the bearer token (from the flag, or the environment when ``env``)."""
    headers: dict[str, str] = {}
    for raw in args.header:
        name, value = parse_header(raw, "--header")
        if name.lower() in {h.lower() for h in headers}:
            raise UsageError("--header", f"{name} is given twice")
        headers[name] = value
    token = args.bearer_token or (os.environ.get(TOKEN_ENV) if env else None) or None
    if token is not None:
        token = token.strip()
        if not token or any(c in token for c in "\r\n"):
            raise UsageError("--bearer-token", "must be one non-empty line")
        if any(h.lower() == "authorization" for h in headers):
            raise UsageError("--bearer-token", "an Authorization header is also given with --header; keep one")
    return headers, token


def connect_spec(args: argparse.Namespace, url: str) -> tuple[ConnectSpec, Redactor]:
    """Probe flags -> the same target a config would give, checked by the same code."""
    from mcpgate.plan.build import connect_spec as target_spec

    check_url(url, "URL")
    _check_versions(args)
    headers, token = _headers(args, env=True)
    if args.max_response_bytes < 1024:
        raise UsageError("--max-response-bytes", "must be at least 1024")
    if args.timeout <= 0 or args.connect_timeout <= 0:
        raise UsageError("--timeout" if args.timeout <= 0 else "--connect-timeout", "must be more than 0")
    target = TargetConfig(
        url=url,
        transport=args.transport,
        protocol_version=args.protocol_version,
        expect_protocol_version=args.expect_protocol_version,
        headers=headers,
        bearer_token=token,
        timeout=args.timeout,
        connect_timeout=args.connect_timeout,
        max_response_bytes=args.max_response_bytes,
        insecure=args.insecure,
        ca_file=args.ca_file,
    )
    return target_spec(target)


def _check_versions(args: argparse.Namespace) -> None:
    version = args.protocol_version or AUTO
    if args.transport == LEGACY_SSE and is_modern(version):
        raise UsageError("--protocol-version", f"{version} has no legacy SSE transport")
    expect = args.expect_protocol_version
    if expect is not None and version not in (AUTO, expect):
        raise UsageError("--expect-protocol-version", f"contradicts --protocol-version {version}")
    if expect is not None and args.transport == LEGACY_SSE and is_modern(expect):
        raise UsageError("--expect-protocol-version", f"{expect} has no legacy SSE transport")


def run_overrides(args: argparse.Namespace) -> Overrides:
    """Run flags as config overrides: only the flags given count."""
    if args.url is not None:
        check_url(args.url, "--url")
    _check_versions(args)
    headers, token = _headers(args, env=False)
    target: dict[str, object] = {}
    for flag, key in (
        ("transport", "transport"),
        ("protocol_version", "protocol_version"),
        ("expect_protocol_version", "expect_protocol_version"),
        ("timeout", "timeout"),
        ("connect_timeout", "connect_timeout"),
        ("max_response_bytes", "max_response_bytes"),
        ("insecure", "insecure"),
        ("ca_file", "ca_file"),
    ):
        value = getattr(args, flag)
        if value is not None:
            target[key] = value
    if token is not None:
        target["bearer_token"] = token
    if args.vus is not None and not 1 <= args.vus <= MAX_VUS:
        raise UsageError("--vus", f"must be from 1 to {MAX_VUS}")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration", "must be more than 0")
    for flag, seconds in (("--timeout", args.timeout), ("--connect-timeout", args.connect_timeout)):
        if seconds is not None and seconds <= 0:
            raise UsageError(flag, "must be more than 0")
    if args.max_response_bytes is not None and args.max_response_bytes < 1024:
        raise UsageError("--max-response-bytes", "must be at least 1024")
    return Overrides(
        url=args.url,
        target=target,
        headers=headers,
        profile=args.profile,
        vus=args.vus,
        duration=args.duration,
        thresholds=tuple(args.threshold),
        seed=args.seed,
        env_token=os.environ.get(TOKEN_ENV) or None,
        min_breaking_point=args.min_breaking_point,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mcpgate", description="Load-test gate for MCP servers.")
    parser.add_argument("--version", action="version", version=f"mcpgate {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    verbs.required = True

    probe = verbs.add_parser("probe", help="run one MCP session and report every step")
    probe.add_argument("url", metavar="URL", help="the MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    add_target_options(probe)
    probe.add_argument("--call", metavar="TOOL", help="also call this tool")
    probe.add_argument("--args", metavar="JSON", help="arguments for --call, a JSON object (default {})")
    probe.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    probe.set_defaults(handler=_probe)

    run = verbs.add_parser("run", help="run a staged load test and judge its thresholds")
    run.add_argument("-c", "--config", type=Path, metavar="FILE", help="YAML config (see mcpgate schema)")
    run.add_argument("--url", help="the MCP endpoint (overrides target.url)")
    add_target_options(run, defaults=False)
    run.add_argument(
        "--profile", choices=PROFILES, help="the seed guide's load profiles, or a breakpoint search (default: smoke)"
    )
    run.add_argument("--vus", type=int, help="scale the profile's peak to this many VUs")
    run.add_argument("--duration", type=_duration, help="stretch or shrink the profile to this total time")
    run.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="METRIC=EXPR[,EXPR]",
        help="add a threshold, or replace the config's for that metric (repeatable)",
    )
    run.add_argument("--out", type=Path, metavar="FILE", help="write results as JSON (schema mcpgate/results/v1)")
    run.add_argument("--seed", type=int, help="seed the random choices, for repeatable runs")
    run.add_argument("--interval", type=_duration, help="timeline interval (default: 1-10s by run length)")
    run.add_argument("--no-progress", action="store_true", help="no progress lines while running")
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="generator processes (default: one per available core, at most one per VU)",
    )
    run.add_argument(
        "--shard", metavar="I/N", help="run part I of N (I from 0) of every scenario; merge with mcpgate merge"
    )
    run.add_argument(
        "--start-at",
        metavar="TIME",
        help="start the load at this instant (ISO 8601 with a zone, or unix seconds), after the preflight",
    )
    add_report_options(run)
    run.add_argument(
        "--environment",
        choices=["staging", "production"],
        default="staging",
        help="production refuses more than smoke-level load unless --allow-production-load",
    )
    run.add_argument("--allow-production-load", action="store_true", help="allow a load test against production")
    run.add_argument(
        "--min-breaking-point",
        type=_level,
        metavar="LEVEL",
        help="breakpoint: fail (exit 99) when the breaking point is below this rate (iterations/s) or VU count",
    )
    run.set_defaults(handler=_run)

    register_postdeploy(verbs, add_target_options, connect_spec)
    register_merge(
        verbs,
        report_options=add_report_options,
        check_out=_check_out,
        results_file=_results_file,
        is_file=_is_file,
        drift_window=_drift_window,
    )

    compare_verb = verbs.add_parser("compare", help="compare two saved runs; fail on a regression")
    compare_verb.add_argument("baseline", type=Path, metavar="BASELINE.json")
    compare_verb.add_argument("current", type=Path, metavar="CURRENT.json")
    compare_verb.add_argument("--max-regression", type=_fraction, default=DEFAULT_MAX_REGRESSION, metavar="PCT")
    compare_verb.add_argument("--format", choices=["text", "md", "json"], default="text")
    compare_verb.set_defaults(handler=_compare)

    drift_verb = verbs.add_parser("drift", help="judge a saved run's drift again (another window or limit)")
    drift_verb.add_argument("results", type=Path, metavar="RESULTS.json")
    add_drift_options(drift_verb)
    drift_verb.add_argument("--format", choices=["text", "md", "json"], default="text")
    drift_verb.set_defaults(handler=_drift)

    validate = verbs.add_parser("validate", help="check a config file without sending anything")
    validate.add_argument("file", type=Path, metavar="FILE")
    validate.set_defaults(handler=_validate)

    schema = verbs.add_parser("schema", help="print the config's JSON Schema (for editors)")
    schema.set_defaults(handler=_schema)

    report = verbs.add_parser("report", help="render saved results again")
    report.add_argument("results", type=Path, metavar="RESULTS.json")
    report.add_argument("--format", choices=["text", "md", "junit", "json"], default="text")
    report.add_argument("--summary-template", type=Path, metavar="FILE", help="your own Jinja template for md")
    report.set_defaults(handler=_report)
    return parser


def _probe(args: argparse.Namespace) -> int:
    from mcpgate.app.probe import render_text, report_dict, run_probe

    spec, redact = connect_spec(args, args.url)
    if args.args is not None and args.call is None:
        raise UsageError("--args", "needs --call TOOL")
    arguments = _json_object(args.args or "{}", "--args")
    report = eventloop.run(run_probe(spec, call=args.call, arguments=arguments))
    if args.json:
        sys.stdout.write(orjson.dumps(report_dict(report, redact), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_text(report, redact) + "\n")
    return exitcodes.OK if report.ok else exitcodes.CHECK_FAILED


def _run(args: argparse.Namespace) -> int:
    from mcpgate.app.run import RunOptions, run_plan
    from mcpgate.config.assemble import assemble
    from mcpgate.plan.build import build_plan, production_guard, shard_guard

    for flag, path in (("--out", args.out), ("--markdown", args.markdown), ("--junit", args.junit)):
        if path is not None:
            _check_out(path, flag)
    baseline = _results_file(args.baseline) if args.baseline is not None else None
    if args.summary_template is not None and not _is_file(args.summary_template, "--summary-template"):
        raise UsageError("--summary-template", f"{args.summary_template}: no such file")
    plan = build_plan(assemble(args.config, run_overrides(args)))
    if args.environment == "production":
        production_guard(plan, args.allow_production_load)
    if args.workers is not None and not 0 <= args.workers <= MAX_WORKERS:
        raise UsageError("--workers", f"must be from 1 to {MAX_WORKERS} (or 0: one per available core)")
    if args.interval is not None and args.interval < max(0.1, plan.duration / 5000):
        raise UsageError("--interval", f"must be at least {max(0.1, plan.duration / 5000):g}s for this run's length")
    shard, start_at = _scale_out(args)
    shard_guard(plan, shard is not None, "--shard")
    options = RunOptions(
        out=args.out,
        interval=args.interval,
        progress=not args.no_progress,
        last_act=True,
        baseline=baseline,
        max_regression=args.max_regression,
        markdown=args.markdown,
        junit=args.junit,
        summary_template=args.summary_template,
        workers=args.workers or None,
        max_drift=args.max_drift,
        drift_window=_drift_window(args),
        shard=shard,
        start_at=start_at,
    )
    results = eventloop.run(run_plan(plan, options))
    for sig in (signal.SIGINT, signal.SIGTERM):  # the results are out: a late signal changes nothing now
        signal.signal(sig, signal.SIG_IGN)
    return results.run.exit_code


def _scale_out(args: argparse.Namespace) -> tuple[Shard | None, float | None]:
    """--shard I/N and --start-at, checked: a shard's part, and the instant its load starts (unix time)."""
    from mcpgate.support.startat import parse_start_at

    shard = start_at = None
    try:
        shard = parse_shard(args.shard) if args.shard is not None else None
    except ValueError as exc:
        raise UsageError("--shard", str(exc)) from None
    try:
        start_at = parse_start_at(args.start_at, time.time()) if args.start_at is not None else None
    except ValueError as exc:
        raise UsageError("--start-at", str(exc)) from None
    return shard, start_at


def _check_out(path: Path, flag: str) -> None:
    """Fail before any load, not after it: the results must have somewhere to go."""
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # a name the system refuses: too long, a symlink loop
        raise UsageError(flag, f"{path}: {exc.strerror or exc}") from None
    if is_dir:
        raise UsageError(flag, f"{path} is a directory")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(flag, f"cannot create {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK):
        raise UsageError(flag, f"{parent} is not writable")


def _is_file(path: Path, flag: str) -> bool:
    try:
        return path.is_file()
    except OSError as exc:  # a name the system refuses: too long, a symlink loop
        raise UsageError(flag, f"{path}: {exc.strerror or exc}") from None


def add_report_options(p: argparse.ArgumentParser) -> None:
    """The files a run writes besides --out, and how it is judged against a baseline and for drift (run, merge)."""
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the Markdown summary (job summaries)")
    p.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML (thresholds and checks)")
    p.add_argument("--summary-template", type=Path, metavar="FILE", help="your own Jinja template for --markdown")
    p.add_argument("--baseline", type=Path, metavar="RESULTS.json", help="compare with an earlier run's results")
    p.add_argument(
        "--max-regression",
        type=_fraction,
        default=DEFAULT_MAX_REGRESSION,
        metavar="PCT",
        help="how much worse than the baseline fails the run (default 20%%)",
    )
    add_drift_options(p)


def add_drift_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-drift",
        type=_drift_limit,
        default=DEFAULT_MAX_DRIFT,
        metavar="PCT|off",
        help="how much p95 or the error rate may rise over the steady load (default 20%%; off: report only)",
    )
    p.add_argument(
        "--drift-window",
        type=_duration,
        metavar="D",
        help="the first and last windows of steady load compared (default 10m, or a quarter of a shorter one)",
    )


def _drift_limit(text: str) -> float | None:
    """``--max-drift``: a percentage, or ``off`` to report drift without gating on it."""
    if text.strip().lower() == "off":
        return None
    try:
        return _fraction(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace(" or 0.2,", ", 0.2 or off,", 1)) from None


def _drift_window(args: argparse.Namespace) -> float | None:
    window: float | None = args.drift_window
    if window is not None and window <= 0:
        raise UsageError("--drift-window", "must be more than 0")
    return window


def _level(text: str) -> float:
    """A breakpoint level: a number above 0 (iterations/s, or VUs)."""
    try:
        value = float(text.strip().removesuffix("/s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 100, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    """``20%``, ``0.2``, or ``20`` (a bare number above 1 is a percentage)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage like 20% or 0.2, got {text!r}") from None
    if value > 1 and not raw.endswith("%"):
        value /= 100
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError(f"expected a percentage between 0% and 1000%, got {text!r}")
    return value


def _results_file(path: Path) -> Results:
    from mcpgate.results.io import read

    try:
        return read(path)
    except FileNotFoundError:
        raise UsageError(str(path), "no such file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(str(path), str(exc).splitlines()[0]) from None


def _compare(args: argparse.Namespace) -> int:
    from mcpgate.report.baseline import render_markdown, render_text
    from mcpgate.verdict import baseline as compare

    comparison = compare.compare(_results_file(args.baseline), _results_file(args.current), args.max_regression)
    if args.format == "md":
        sys.stdout.write(render_markdown(comparison))
    elif args.format == "json":
        data = {
            "ok": comparison.ok,
            "max_regression": comparison.max_regression,
            "reason": comparison.reason(),
            "notes": list(comparison.notes),
            "deltas": [
                {
                    "metric": d.metric,
                    "stat": d.stat,
                    "kind": d.kind,
                    "baseline": d.baseline,
                    "current": d.current,
                    "change": d.change,
                    "regressed": d.regressed,
                }
                for d in comparison.deltas
            ],
        }
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_text(comparison) + "\n")
    return exitcodes.OK if comparison.ok else exitcodes.THRESHOLDS_FAILED


def _drift(args: argparse.Namespace) -> int:
    from mcpgate.report.drift import render_text as drift_text
    from mcpgate.report.markdown import render_drift
    from mcpgate.verdict import drift
    from mcpgate.verdict.steady import steady_of

    window = _drift_window(args)
    saved = _results_file(args.results)
    report = drift.analyze(saved.timeseries, steady_of(saved), max_drift=args.max_drift, window=window)
    if args.format == "md":
        sys.stdout.write(render_drift(saved.model_copy(update={"drift": report})))
    elif args.format == "json":
        data = report.model_dump(mode="json")
        data["worst_p95_change"] = drift.worst_p95_change(report)
        for row, shown in zip(report.rows, data["rows"], strict=True):
            shown["change"] = row.change
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        lines = drift_text(report)
        if report.reason:
            lines.append(report.reason)
        sys.stdout.write("\n".join(lines) + "\n")
    return exitcodes.OK if report.ok else exitcodes.THRESHOLDS_FAILED


def _validate(args: argparse.Namespace) -> int:
    from mcpgate.config.assemble import assemble
    from mcpgate.plan.build import build_plan

    plan = build_plan(assemble(args.file, Overrides()))
    scenarios = ", ".join(s.name for s in plan.scenarios)
    print(f"{args.file}: ok ({len(plan.scenarios)} scenario(s): {scenarios}; {len(plan.thresholds)} threshold(s))")
    return exitcodes.OK


def _schema(args: argparse.Namespace) -> int:
    from mcpgate.config.models import Config

    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mcpgate configuration"
    sys.stdout.write(orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode() + "\n")
    return exitcodes.OK


def _report(args: argparse.Namespace) -> int:
    from mcpgate.report.console import render_summary
    from mcpgate.report.junit import render_junit
    from mcpgate.report.markdown import render_markdown

    results = _results_file(args.results)
    if args.format == "md":
        try:
            sys.stdout.write(render_markdown(results, template=args.summary_template))
        except ValueError as exc:
            raise UsageError("--summary-template", str(exc)) from None
    elif args.format == "junit":
        sys.stdout.write(render_junit(results))
    elif args.format == "json":
        data = results.model_dump(mode="json", by_alias=True)
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_summary(results) + "\n")
    return exitcodes.OK


def _json_object(text: str, field: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(field, f"not valid JSON ({exc.args[0] if exc.args else exc})") from None
    if not isinstance(value, dict):
        raise UsageError(field, f"must be a JSON object, got {type(value).__name__}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        print(f"mcpgate: error: {exc}", file=sys.stderr)
        return exitcodes.INVALID_INPUT
    except KeyboardInterrupt:
        print("mcpgate: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
