"""The ``smoke`` and ``monitor`` subcommands: flags in, a report out, exit 0 or 1.

cli.py calls ``register`` with its own target-option and connect-spec helpers, so
``smoke`` takes exactly the target flags ``probe`` takes and checks them the same way.
Bad input raises UsageError naming the flag (cli.main turns it into exit 104).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, Final

import orjson

from mcpgate.app.checks import header_map
from mcpgate.app.postdeploy.monitor import (
    MonitorSpec,
    monitor_dict,
    monitor_redactor,
    render_monitor_text,
    run_monitor,
)
from mcpgate.app.postdeploy.smoke import AUTO, MAX_SESSIONS, render_smoke_text, run_smoke, smoke_dict
from mcpgate.app.requests import MONITOR_TOKEN_ENV
from mcpgate.config.target import check_url, parse_header
from mcpgate.config.values import json_object
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.support import eventloop, exitcodes
from mcpgate.support.durations import parse_duration
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor

ConnectSpecFn = Callable[..., tuple[ConnectSpec, Redactor]]

# MonitorSpec and run_smoke name bad values by field; users know them by flag.
_MONITOR_FLAGS: Final = {
    "url": "MONITOR_URL",
    "token": "--token",
    "path": "--path",
    "wait": "--wait",
    "interval": "--interval",
    "timeout": "--timeout",
    "request_timeout": "--request-timeout",
    "headers": "--header",
}
_SMOKE_FLAGS: Final = {
    "sessions": "--sessions",
    "interval": "--interval",
    "call": "--call",
    "args": "--args",
    "min_cert_days": "--min-cert-days",
}


def register(
    verbs: argparse._SubParsersAction[Any],
    add_target_options: Callable[[argparse.ArgumentParser], None],
    connect_spec: ConnectSpecFn,
) -> None:
    smoke = verbs.add_parser("smoke", help="a few real MCP sessions at a low rate, after a deploy")
    smoke.add_argument("url", metavar="URL", help="the MCP endpoint, e.g. https://mcp.example.com/mcp")
    add_target_options(smoke)
    s = smoke.add_argument_group("smoke")
    s.add_argument(
        "--sessions", type=int, default=3, metavar="N", help=f"sessions to run (1..{MAX_SESSIONS}, default 3)"
    )
    s.add_argument("--interval", default="1s", metavar="D", help="between session starts (default 1s)")
    s.add_argument(
        "--call",
        metavar="TOOL|auto",
        help="also call a read-only tool in each session; auto: the first tool marked readOnlyHint",
    )
    s.add_argument("--args", metavar="JSON", help="arguments for --call TOOL (default: made from its inputSchema)")
    s.add_argument("--allow-writes", action="store_true", help="let --call name a tool not marked readOnlyHint")
    s.add_argument("--require-calls", action="store_true", help="fail when --call auto finds no read-only tool")
    s.add_argument("--min-cert-days", type=int, metavar="N", help="fail when the TLS certificate expires sooner")
    s.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    smoke.set_defaults(handler=functools.partial(smoke_verb, connect_spec=connect_spec))

    monitor = verbs.add_parser("monitor", help="poll a monitor-status API until it reports the expected status")
    monitor.add_argument(
        "monitor_url", metavar="MONITOR_URL", help="e.g. https://api.alivemcp.com/v1/monitors/ID/status"
    )
    monitor.add_argument("--token", help=f"sent as 'Authorization: Bearer …'; prefer the {MONITOR_TOKEN_ENV} variable")
    monitor.add_argument("--path", default="status", help="dotted JSON path to the status (default: status)")
    monitor.add_argument("--expected", default="up", help="the value that means healthy (default: up)")
    monitor.add_argument("--wait", default="0s", metavar="D", help="before the first poll (default 0s)")
    monitor.add_argument("--interval", default="10s", metavar="D", help="between polls (default 10s)")
    monitor.add_argument("--timeout", default="5m", metavar="D", help="keep polling this long after the wait (5m)")
    monitor.add_argument("--request-timeout", default="10s", metavar="D", help="per request (default 10s)")
    monitor.add_argument(
        "--header", "-H", action="append", default=[], metavar="NAME:VALUE", help="extra request header (repeatable)"
    )
    monitor.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    monitor.set_defaults(handler=monitor_verb)


def smoke_verb(args: argparse.Namespace, *, connect_spec: ConnectSpecFn) -> int:
    spec, redact = connect_spec(args, args.url)
    interval = _duration(args.interval, "--interval")
    if args.args is not None and args.call is None:
        raise UsageError("--args", "needs --call TOOL")
    if args.args is not None and args.call == AUTO:
        raise UsageError("--args", "is for a named tool; --call auto makes its arguments from the tool's inputSchema")
    arguments = json_object(args.args, "--args") if args.args is not None else None
    try:
        report = eventloop.run(
            run_smoke(
                spec,
                sessions=args.sessions,
                interval=interval,
                call=args.call,
                arguments=arguments,
                min_cert_days=args.min_cert_days,
                allow_writes=args.allow_writes,
                require_calls=args.require_calls,
            )
        )
    except UsageError as exc:
        raise UsageError(_SMOKE_FLAGS.get(exc.field, exc.field), exc.message) from None
    if args.json:
        _print_json(smoke_dict(report, redact))
    else:
        sys.stdout.write(render_smoke_text(report, redact) + "\n")
    return exitcodes.OK if report.ok else exitcodes.CHECK_FAILED


def monitor_spec(args: argparse.Namespace) -> MonitorSpec:
    """Monitor flags -> a checked MonitorSpec; errors name the flag."""
    check_url(args.monitor_url, "MONITOR_URL")
    token = args.token if args.token is not None else os.environ.get(MONITOR_TOKEN_ENV) or None
    try:
        headers = header_map(tuple(parse_header(raw, "--header") for raw in args.header))
    except UsageError as exc:
        raise UsageError("--header", exc.message) from None
    try:
        return MonitorSpec(
            args.monitor_url,
            token.strip() if token is not None else None,
            path=args.path,
            expected=args.expected,
            wait=_duration(args.wait, "--wait"),
            interval=_duration(args.interval, "--interval"),
            timeout=_duration(args.timeout, "--timeout"),
            request_timeout=_duration(args.request_timeout, "--request-timeout"),
            headers=headers,
        )
    except UsageError as exc:
        raise UsageError(_MONITOR_FLAGS.get(exc.field, exc.field), exc.message) from None


def monitor_verb(args: argparse.Namespace) -> int:
    spec = monitor_spec(args)
    redact = monitor_redactor(spec)
    report = eventloop.run(run_monitor(spec))
    if args.json:
        _print_json(monitor_dict(report, redact))
    else:
        sys.stdout.write(render_monitor_text(report, redact) + "\n")
    return exitcodes.OK if report.ok else exitcodes.CHECK_FAILED


def _duration(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(flag, str(exc)) from None


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
