"""The request model: every option of each verb, as one typed value the application takes.

The CLI, the Action and ``docker run`` are doors onto these requests. Each
option is declared once here (``RUN_OPTIONS``): its field, how each door spells
it (``--max-regression``, ``max-regression``, ``INPUT_MAX-REGRESSION``), and
the reader that turns its text into a value (config/values.py). A door only
reads text into a request; what the request means is checked by the
application, once, with errors naming the option by its canonical name, which
each door then spells its own way (``Door.label``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpgate.config import values
from mcpgate.config.profiles import PROFILES
from mcpgate.config.target import parse_header
from mcpgate.engine.shard import Shard, parse_shard
from mcpgate.protocol.http import DEFAULT_MAX_RESPONSE_BYTES
from mcpgate.protocol.transport import TRANSPORTS
from mcpgate.protocol.versions import AUTO, KNOWN_VERSIONS
from mcpgate.support.errors import UsageError
from mcpgate.verdict.baseline import DEFAULT_MAX_REGRESSION
from mcpgate.verdict.drift import DEFAULT_MAX_DRIFT

TOKEN_ENV = "MCPGATE_BEARER_TOKEN"
CLIENT_SECRET_ENV = "MCPGATE_CLIENT_SECRET"
REFRESH_TOKEN_ENV = "MCPGATE_REFRESH_TOKEN"
AUTH_TYPES = ("client_credentials", "refresh_token")
MONITOR_TOKEN_ENV = "MCPGATE_MONITOR_TOKEN"


@dataclass(frozen=True)
class Option:
    """One option of a verb, as every door offers it.

    ``name`` is the canonical name: the Action's input, ``INPUT_<NAME>`` under
    ``docker run``, and ``--<name>`` on the CLI unless ``flag`` says otherwise.
    A repeatable option (``many``) is a flag given several times on the CLI and
    one line each in the Action's input; ``line`` reads such a line when the
    Action's form differs from the flag's (``metric: expr`` vs ``METRIC=EXPR``).
    An option whose reader is None is a switch (``--insecure``; ``true``/``false``).
    ``via`` names the Action input that carries it when the Action has its own
    convention for it (the output files, written into ``results-dir``).
    """

    name: str
    help: str
    read: Callable[[str], Any] | None = None
    flag: str = ""
    short: str = ""
    many: bool = False
    line: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    via: str = ""
    typed: bool = False  # the CLI reads it with argparse (its errors say 'argument --x: ...')

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")

    @property
    def cli_flag(self) -> str:
        return self.flag or f"--{self.name}"

    @property
    def action_input(self) -> str:
        return self.via or self.name

    @property
    def env(self) -> str:
        return "INPUT_" + self.action_input.upper()


def header(text: str) -> tuple[str, str]:
    """``Name: value``; its errors never repeat the value (it may be a secret)."""
    try:
        return parse_header(text, "")
    except UsageError as exc:
        raise ValueError(exc.message) from None


_choices = values.choice


VERSIONS = (AUTO, *KNOWN_VERSIONS)
TRANSPORT_CHOICES = (AUTO, *TRANSPORTS)

TARGET_OPTIONS: tuple[Option, ...] = (
    Option("transport", "default: auto (detect)", _choices(TRANSPORT_CHOICES), choices=TRANSPORT_CHOICES),
    Option("protocol-version", "default: auto", _choices(VERSIONS), choices=VERSIONS),
    Option(
        "expect-protocol-version",
        "fail unless the server speaks this",
        _choices(KNOWN_VERSIONS),
        choices=KNOWN_VERSIONS,
    ),
    Option(
        "headers",
        "extra request header (repeatable)",
        header,
        flag="--header",
        short="-H",
        many=True,
        metavar="NAME:VALUE",
    ),
    Option("bearer-token", f"sent as 'Authorization: Bearer …'; prefer the {TOKEN_ENV} variable", str),
    Option("auth", "OAuth: ask for access tokens with this grant", _choices(AUTH_TYPES), choices=AUTH_TYPES),
    Option("client-id", "OAuth client id", str),
    Option("client-secret", f"OAuth client secret; prefer the {CLIENT_SECRET_ENV} variable", str),
    Option("refresh-token", f"OAuth refresh token (--auth refresh_token); prefer {REFRESH_TOKEN_ENV}", str),
    Option("token-url", "OAuth token endpoint (default: discovered from the server's 401)", str, metavar="URL"),
    Option("scope", "OAuth scopes to ask for, space-separated", str),
    Option("resource", "OAuth resource indicator (default: the MCP URL)", str, metavar="URL"),
    Option("timeout", "per request, until its response (default 10s)", values.duration, typed=True),
    Option("connect-timeout", "TCP+TLS connect (default 5s)", values.duration, typed=True),
    Option("no-cookies", "keep no cookies (by default each session keeps its own, as sticky load balancers need)"),
    Option(
        "max-response-bytes",
        f"largest response read before failing it (default {DEFAULT_MAX_RESPONSE_BYTES})",
        values.integer,
        typed=True,
    ),
    Option("insecure", "do not verify TLS certificates"),
    Option("ca-file", "also trust this CA bundle (a private CA)", Path, metavar="PEM"),
    Option("client-cert", "client certificate for mTLS (may hold the key too)", Path, metavar="PEM"),
    Option("client-key", "the client certificate's private key", Path, metavar="PEM"),
    Option("proxy", "HTTP proxy for every request (wins over HTTP(S)_PROXY)", str, metavar="URL"),
    Option("no-proxy", "hosts reached directly, as NO_PROXY ('*': no proxy)", str, metavar="LIST"),
)

RUN_OPTIONS: tuple[Option, ...] = (
    Option("config", "YAML config (see mcpgate schema)", Path, short="-c", metavar="FILE"),
    Option("url", "the MCP endpoint (overrides target.url)", str),
    *TARGET_OPTIONS,
    Option(
        "profile",
        "the seed guide's load profiles, or a breakpoint search (default: smoke)",
        _choices(PROFILES),
        choices=PROFILES,
    ),
    Option("vus", "scale the profile's peak to this many VUs", values.integer, typed=True, metavar="VUS"),
    Option("duration", "stretch or shrink the profile to this total time", values.duration, typed=True),
    Option(
        "thresholds",
        "add a threshold, or replace the config's for that metric (repeatable)",
        str,  # checked with the config's thresholds, which it adds to
        flag="--threshold",
        many=True,
        line=values.threshold_line,
        metavar="METRIC=EXPR[,EXPR]",
    ),
    Option(
        "tools",
        "the weighted tool mix, 'name[: weight] [JSON arguments | auto]' (repeatable), or one YAML/JSON file",
        str,
        many=True,
        metavar="LINE|FILE",
    ),
    Option("require-calls", "fail the preflight (exit 103) when the run would call no tool (none is read-only)"),
    Option("seed", "seed the random choices, for repeatable runs", values.integer, typed=True),
    Option("interval", "timeline interval (default: 1-10s by run length)", values.duration, typed=True),
    Option("no-progress", "no progress lines while running"),
    Option(
        "workers",
        "generator processes (default: one per available core, at most one per VU)",
        values.integer,
        typed=True,
        metavar="N",
    ),
    Option(
        "shard", "run part I of N (I from 0) of every scenario; merge with mcpgate merge", parse_shard, metavar="I/N"
    ),
    Option(
        "start-at",
        "start the load at this instant (ISO 8601 with a zone, or unix seconds), after the preflight",
        values.start_at,
        metavar="TIME",
    ),
    Option("out", "write results as JSON (schema mcpgate/results/v1)", Path, metavar="FILE", via="results-dir"),
    Option("markdown", "also write the Markdown summary (job summaries)", Path, metavar="FILE", via="results-dir"),
    Option("junit", "also write JUnit XML (thresholds and checks)", Path, metavar="FILE", via="results-dir"),
    Option("summary-template", "your own Jinja template for --markdown", Path, metavar="FILE"),
    Option("baseline", "compare with an earlier run's results", Path, metavar="RESULTS.json"),
    Option(
        "max-regression",
        "how much worse than the baseline fails the run (default 20%%)",
        values.fraction,
        typed=True,
        metavar="PCT",
    ),
    Option(
        "max-drift",
        "how much p95 or the error rate may rise over the steady load (default 20%%; off: report only)",
        values.drift_limit,
        typed=True,
        metavar="PCT|off",
    ),
    Option(
        "drift-window",
        "the first and last windows of steady load compared (default 10m, or a quarter of a shorter one)",
        values.duration,
        typed=True,
        metavar="D",
    ),
    Option(
        "environment",
        "production refuses more than smoke-level load unless --allow-production-load",
        _choices(("staging", "production")),
        choices=("staging", "production"),
    ),
    Option("allow-production-load", "allow a load test against production"),
    Option(
        "breakpoint",
        "breakpoint: the search's steps, 'key: value' as the config's breakpoint section (repeatable)",
        str,
        many=True,
        metavar="KEY:VALUE",
    ),
    Option(
        "min-breaking-point",
        "breakpoint: fail (exit 99) when the breaking point is below this rate (iterations/s) or VU count",
        values.level,
        typed=True,
        metavar="LEVEL",
    ),
)

OPTIONS_BY_NAME = {o.name: o for o in RUN_OPTIONS}
REPORT_FILES = ("markdown", "junit", "summary-template", "baseline", "max-regression", "max-drift", "drift-window")
MERGE_OPTIONS: tuple[Option, ...] = (
    OPTIONS_BY_NAME["out"],
    *(OPTIONS_BY_NAME[name] for name in REPORT_FILES),
    Option("allow-missing", "merge the shards there are, with a warning, if some are missing"),
)


@dataclass(frozen=True, kw_only=True)
class Judged:
    """What a run and a merge share: where relative paths start, the files they write, and how
    their results are judged against a baseline and for drift."""

    base: Path = Path()  # the CLI's working directory, the Action's workspace
    out: Path | None = None
    markdown: Path | None = None
    junit: Path | None = None
    summary_template: Path | None = None
    baseline: Path | None = None
    max_regression: float = DEFAULT_MAX_REGRESSION
    max_drift: float | None = DEFAULT_MAX_DRIFT
    drift_window: float | None = None
    first_baseline_ok: bool = False  # a baseline not there yet is the first run (the Action), not an error

    def path(self, given: Path) -> Path:
        """A path the user gave, where the door's relative paths start (the one place that decides it)."""
        return resolve(self.base, given)


@dataclass(frozen=True, kw_only=True)
class RunRequest(Judged):
    """``mcpgate run``: every option, as read by a door."""

    config: Path | None = None
    url: str | None = None
    transport: str | None = None
    protocol_version: str | None = None
    expect_protocol_version: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    bearer_token: str | None = None
    auth: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    token_url: str | None = None
    scope: str | None = None
    resource: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    no_cookies: bool = False
    max_response_bytes: int | None = None
    insecure: bool = False
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    proxy: str | None = None
    no_proxy: str | None = None
    profile: str | None = None
    vus: int | None = None
    duration: float | None = None
    thresholds: tuple[str, ...] = ()  # METRIC=EXPR[,EXPR] each
    tools: tuple[str, ...] = ()  # mix lines, or one file
    require_calls: bool = False
    seed: int | None = None
    interval: float | None = None
    no_progress: bool = False
    workers: int | None = None  # None or 0: one per available core
    shard: Shard | None = None
    start_at: float | None = None
    environment: str = "staging"
    allow_production_load: bool = False
    breakpoint: tuple[str, ...] = ()  # key: value lines
    min_breaking_point: float | None = None
    # How the door runs it (not options): the environment's token, and whether the process ends
    # with the run (the CLI: signals after the results are out are ignored).
    env_token: str | None = None
    env_auth: tuple[tuple[str, str], ...] = ()  # MCPGATE_CLIENT_SECRET, MCPGATE_REFRESH_TOKEN: auth keys they fill in
    last_act: bool = False


def resolve(base: Path, given: Path) -> Path:
    """``given`` as the user meant it: relative paths start at ``base`` (the CLI's working directory,
    the Action's workspace)."""
    return given if given.is_absolute() else base / given


@dataclass(frozen=True, kw_only=True)
class MergeRequest(Judged):
    """``mcpgate merge`` (the Action's ``merge``): the shards' files in, the merged run's results out.

    With ``under_base`` every shard file must lie under ``base`` (the Action's workspace).
    """

    files: tuple[str, ...]  # names or glob patterns
    under_base: bool = False
    allow_missing: bool = False
