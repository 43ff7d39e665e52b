"""The command line: one verb per job, every bad input a one-line error with exit 104.

A thin door: flags become the same requests the Action's inputs become
(app/requests.py), made from the same option table, and the application
checks them. An error names the option; here it is spelled as the flag.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from mcpgate import __version__
from mcpgate.app import saved
from mcpgate.app import verbs as app
from mcpgate.app.init import InitFailed
from mcpgate.app.probe import render_text, report_dict, run_probe
from mcpgate.app.requests import (
    CLIENT_SECRET_ENV,
    MERGE_OPTIONS,
    MONITOR_TOKEN_ENV,
    REFRESH_TOKEN_ENV,
    RUN_OPTIONS,
    TARGET_OPTIONS,
    TOKEN_ENV,
    MergeRequest,
    RunRequest,
)
from mcpgate.app.saved import CompareRequest, DriftRequest, ReportRequest
from mcpgate.config.assemble import Overrides, assemble
from mcpgate.config.models import Config
from mcpgate.config.values import json_object
from mcpgate.doors.argv import Parser, add_options, read_options, relabeled
from mcpgate.doors.postdeploy import register as register_postdeploy
from mcpgate.plan.build import build_plan
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.support import eventloop, exitcodes
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor
from mcpgate.verdict.baseline import DEFAULT_MAX_REGRESSION
from mcpgate.verdict.drift import DEFAULT_MAX_DRIFT

__all__ = ["MONITOR_TOKEN_ENV", "TOKEN_ENV", "add_target_options", "build_parser", "connect_spec", "main", "words"]


def add_target_options(p: argparse.ArgumentParser) -> None:
    """The target flags of probe and smoke: those of run, with the same names and checks."""
    add_options(p.add_argument_group("target"), TARGET_OPTIONS)


def connect_spec(args: argparse.Namespace, url: str) -> tuple[ConnectSpec, Redactor]:
    """Target flags -> the same target a run's config would give, checked by the same code."""
    fields = read_options(args, TARGET_OPTIONS)
    return app.connect_target(
        url, RunRequest(**fields, env_token=os.environ.get(TOKEN_ENV) or None, env_auth=_env_auth())
    )


def _env_auth() -> tuple[tuple[str, str], ...]:
    """The OAuth secrets the environment holds, out of process listings: they fill in ``target.auth``."""
    found = {"client_secret": os.environ.get(CLIENT_SECRET_ENV), "refresh_token": os.environ.get(REFRESH_TOKEN_ENV)}
    return tuple((key, value) for key, value in found.items() if value)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mcpgate", description="Load-test gate for MCP servers.")
    parser.add_argument("--version", action="version", version=f"mcpgate {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    verbs.required = True

    probe = verbs.add_parser("probe", help="run one MCP session and report every step")
    probe.add_argument("url", metavar="URL", help="the MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    add_target_options(probe)
    probe.add_argument("--call", metavar="TOOL", help="also call this tool")
    probe.add_argument("--args", metavar="JSON", help="arguments for --call, a JSON object (default {})")
    probe.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    probe.set_defaults(handler=_probe)

    init = verbs.add_parser("init", help="connect once and write a commented starter config")
    init.add_argument("url", metavar="URL", help="the MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    add_target_options(init)
    init.add_argument("-o", "--output", type=Path, default=Path("mcpgate.yaml"), metavar="FILE")
    init.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    init.set_defaults(handler=_init)

    run = verbs.add_parser("run", help="run a staged load test and judge its thresholds")
    add_options(run, RUN_OPTIONS)
    run.set_defaults(handler=_run)

    register_postdeploy(verbs, add_target_options, connect_spec)

    merge = verbs.add_parser("merge", help="merge the results files of a run's shards into the run's results")
    merge.add_argument(
        "files", nargs="+", metavar="FILE", help="the shards' results files; mcpgate expands globs ('out/shard-*.json')"
    )
    add_options(merge, MERGE_OPTIONS)
    merge.set_defaults(handler=_merge)
    _register_saved(verbs)
    return parser


def words() -> set[str]:
    """What the container's door hands to the CLI: the verbs, and the top-level flags."""
    parser = build_parser()
    found = {"--version", "--help", "-h"}
    for action in parser._subparsers._group_actions if parser._subparsers is not None else ():
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def _register_saved(verbs: Any) -> None:
    """The verbs that read saved results again, or check a config without sending anything."""
    compare_verb = verbs.add_parser("compare", help="compare two saved runs; fail on a regression")
    compare_verb.add_argument("baseline", type=Path, metavar="BASELINE.json")
    compare_verb.add_argument("current", type=Path, metavar="CURRENT.json")
    add_options(compare_verb, [o for o in RUN_OPTIONS if o.name == "max-regression"])
    compare_verb.add_argument("--format", choices=["text", "md", "json"], default="text")
    compare_verb.set_defaults(handler=_compare)

    drift_verb = verbs.add_parser("drift", help="judge a saved run's drift again (another window or limit)")
    drift_verb.add_argument("results", type=Path, metavar="RESULTS.json")
    add_options(drift_verb, [o for o in RUN_OPTIONS if o.name in ("max-drift", "drift-window")])
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


def _probe(args: argparse.Namespace) -> int:
    spec, redact = connect_spec(args, args.url)
    if args.args is not None and args.call is None:
        raise UsageError("--args", "needs --call TOOL")
    arguments = json_object(args.args or "{}", "--args")
    report = eventloop.run(run_probe(spec, call=args.call, arguments=arguments))
    if args.json:
        sys.stdout.write(orjson.dumps(report_dict(report, redact), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_text(report, redact) + "\n")
    return exitcodes.OK if report.ok else exitcodes.CHECK_FAILED


def _init(args: argparse.Namespace) -> int:
    fields = read_options(args, TARGET_OPTIONS)
    request = RunRequest(**fields, env_token=os.environ.get(TOKEN_ENV) or None, env_auth=_env_auth())
    try:
        written = app.init(args.url, request, args.output, force=args.force)
    except InitFailed as exc:
        print(f"mcpgate: error: {exc}", file=sys.stderr)
        return exc.code
    except UsageError as exc:
        raise relabeled(exc, [("output", "--output")]) from None
    print(f"wrote {written}: check it with `mcpgate validate {written}`, run it with `mcpgate run -c {written}`")
    return exitcodes.OK


def _run(args: argparse.Namespace) -> int:
    fields = read_options(args, RUN_OPTIONS)
    request = RunRequest(**fields, env_token=os.environ.get(TOKEN_ENV) or None, env_auth=_env_auth(), last_act=True)
    results = app.run(request)
    for sig in (signal.SIGINT, signal.SIGTERM):  # the results are out: a late signal changes nothing now
        signal.signal(sig, signal.SIG_IGN)
    return results.run.exit_code


def _merge(args: argparse.Namespace) -> int:
    fields = read_options(args, MERGE_OPTIONS)
    request = MergeRequest(files=tuple(args.files), **fields)
    results = app.merge(request, warn=lambda warning: print(f"mcpgate: warning: {warning}", file=sys.stderr))
    return results.run.exit_code


def _compare(args: argparse.Namespace) -> int:
    limit = getattr(args, "max_regression", DEFAULT_MAX_REGRESSION)
    return _print(saved.compare(CompareRequest(args.baseline, args.current, limit, args.format)))


def _drift(args: argparse.Namespace) -> int:
    request = DriftRequest(
        args.results,
        max_drift=getattr(args, "max_drift", DEFAULT_MAX_DRIFT),
        drift_window=getattr(args, "drift_window", None),
        format=args.format,
    )
    return _print(saved.drift(request))


def _print(rendered: saved.Rendered) -> int:
    sys.stdout.write(rendered.text)
    return rendered.exit_code


def _validate(args: argparse.Namespace) -> int:
    plan = build_plan(assemble(args.file, Overrides()))
    scenarios = ", ".join(s.name for s in plan.scenarios)
    print(f"{args.file}: ok ({len(plan.scenarios)} scenario(s): {scenarios}; {len(plan.thresholds)} threshold(s))")
    return exitcodes.OK


def _schema(args: argparse.Namespace) -> int:
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mcpgate configuration"
    sys.stdout.write(orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode() + "\n")
    return exitcodes.OK


def _report(args: argparse.Namespace) -> int:
    return _print(saved.report(ReportRequest(args.results, args.format, args.summary_template)))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        print(f"mcpgate: error: {relabeled(exc)}", file=sys.stderr)
        return exitcodes.INVALID_INPUT
    except KeyboardInterrupt:
        print("mcpgate: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
