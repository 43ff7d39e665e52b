"""The command line: one verb per job, every bad input a one-line error with exit 104."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import orjson

from mcpgate import __version__, exitcodes
from mcpgate.durations import parse_duration
from mcpgate.errors import UsageError
from mcpgate.protocol.http import DEFAULT_MAX_RESPONSE_BYTES, HttpSettings
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.protocol.transport import LEGACY_SSE, TRANSPORTS
from mcpgate.protocol.versions import AUTO, KNOWN_VERSIONS, is_modern
from mcpgate.redact import Redactor
from mcpgate.target import check_url, parse_header

TOKEN_ENV = "MCPGATE_BEARER_TOKEN"


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are ours: one line, exit 104."""

    def error(self, message: str) -> NoReturn:
        raise UsageError("", f"{self.prog}: {message}")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_target_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target")
    g.add_argument("--transport", choices=[AUTO, *TRANSPORTS], default=AUTO, help="default: auto (detect)")
    g.add_argument("--protocol-version", choices=[AUTO, *KNOWN_VERSIONS], default=AUTO, help="default: auto")
    g.add_argument("--expect-protocol-version", choices=KNOWN_VERSIONS, help="fail unless the server speaks this")
    g.add_argument(
        "--header", "-H", action="append", default=[], metavar="NAME:VALUE", help="extra request header (repeatable)"
    )
    g.add_argument("--bearer-token", help=f"sent as 'Authorization: Bearer …'; prefer the {TOKEN_ENV} variable")
    g.add_argument("--timeout", type=_duration, default=10.0, help="per request, until its response (default 10s)")
    g.add_argument("--connect-timeout", type=_duration, default=5.0, help="TCP+TLS connect (default 5s)")
    g.add_argument(
        "--max-response-bytes",
        type=int,
        default=DEFAULT_MAX_RESPONSE_BYTES,
        help=f"largest response read before failing it (default {DEFAULT_MAX_RESPONSE_BYTES})",
    )
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")


def connect_spec(args: argparse.Namespace, url: str) -> tuple[ConnectSpec, Redactor]:
    """Turn target flags into a ConnectSpec, and collect every secret they carry."""
    redact = Redactor()
    check_url(url, "URL")
    redact.add_url(url)
    headers: dict[str, str] = {}
    for raw in args.header:
        name, value = parse_header(raw, "--header")
        if name.lower() in {h.lower() for h in headers}:
            raise UsageError("--header", f"{name} is given twice")
        headers[name] = value
    token = args.bearer_token or os.environ.get(TOKEN_ENV) or None
    if token is not None:
        if any(h.lower() == "authorization" for h in headers):
            raise UsageError("--bearer-token", "an Authorization header is also given with --header; keep one")
        token = token.strip()
        if not token or any(c in token for c in "\r\n"):
            raise UsageError("--bearer-token", "must be one non-empty line")
        headers["Authorization"] = f"Bearer {token}"
        redact.add(token)
    redact.add_headers(headers)
    if args.transport == LEGACY_SSE and is_modern(args.protocol_version):
        raise UsageError("--protocol-version", f"{args.protocol_version} has no legacy SSE transport")
    expect = args.expect_protocol_version
    if expect is not None and args.protocol_version not in (AUTO, expect):
        raise UsageError("--expect-protocol-version", f"contradicts --protocol-version {args.protocol_version}")
    if expect is not None and args.transport == LEGACY_SSE and is_modern(expect):
        raise UsageError("--expect-protocol-version", f"{expect} has no legacy SSE transport")
    if args.max_response_bytes < 1024:
        raise UsageError("--max-response-bytes", "must be at least 1024")
    if args.timeout <= 0 or args.connect_timeout <= 0:
        raise UsageError("--timeout" if args.timeout <= 0 else "--connect-timeout", "must be more than 0")
    settings = HttpSettings(
        timeout=args.timeout,
        connect_timeout=min(args.connect_timeout, args.timeout),
        max_response_bytes=args.max_response_bytes,
        headers=headers,
        verify_tls=not args.insecure,
    )
    spec = ConnectSpec(url, args.transport, args.protocol_version, settings, args.expect_protocol_version)
    return spec, redact


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
    return parser


def _probe(args: argparse.Namespace) -> int:
    from mcpgate.probe import render_text, report_dict, run_probe

    spec, redact = connect_spec(args, args.url)
    if args.args is not None and args.call is None:
        raise UsageError("--args", "needs --call TOOL")
    arguments = _json_object(args.args or "{}", "--args")
    report = asyncio.run(run_probe(spec, call=args.call, arguments=arguments))
    if args.json:
        sys.stdout.write(orjson.dumps(report_dict(report, redact), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_text(report, redact) + "\n")
    return exitcodes.OK if report.ok else exitcodes.CHECK_FAILED


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
