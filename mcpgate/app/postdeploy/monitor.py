"""``mcpgate monitor``: poll a monitor-status API until it reports the expected status.

The seed's post-deploy step, without curl, jq or a shell:

    sleep 90
    STATUS=$(curl -sf ".../v1/monitors/$ID/status" -H "Authorization: Bearer $KEY" | jq -r '.status')
    [ "$STATUS" = "up" ] || exit 1

becomes: wait, then poll every ``interval`` until the JSON value at ``path`` equals
``expected`` (ok), until ``timeout`` runs out (not ok, the last observation is the
reason), or until the API refuses the token (401/403: waiting cannot fix that).

    t=0 ── wait ──┬── poll 0 ──┬── poll 1 ── ... ── poll n-1 ──┤ wait + timeout
                  wait         wait + interval                  (nothing starts after this)

Poll k starts at ``wait + k * interval`` (a pure schedule: a slow answer never shifts
the ones after it), so there are at most ``ceil(timeout / interval)`` polls, and each
request is bounded by ``request_timeout`` and by what is left of ``wait + timeout``.

The token is sent only as ``Authorization: Bearer ...`` to the URL given (redirects are
reported, never followed: the token would travel with them) and never appears in a report:
notes are redacted as they are recorded, and every renderer redacts again.

The API is not measured MCP traffic, so aiohttp asks it (``support.web``): ``HTTP_PROXY``,
``HTTPS_PROXY`` and ``NO_PROXY`` choose a proxy as for any CLI (its credentials are redacted
too), ``SSL_CERT_FILE`` and ``tls.ca_file`` add trusted roots; ``~/.netrc`` is left out, so
no second credential goes with the token.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from mcpgate.app.postdeploy import MARK_FAIL, MARK_OK, md_cell
from mcpgate.config.target import check_url
from mcpgate.protocol.http import body_excerpt
from mcpgate.protocol.outcome import shorten
from mcpgate.support.durations import format_duration
from mcpgate.support.errors import UsageError
from mcpgate.support.jsonpath import Part, parse_path, resolve, scalar_text
from mcpgate.support.jsonvalues import kind
from mcpgate.support.lazy import load
from mcpgate.support.redact import Redactor, redact_env_proxies
from mcpgate.support.tls import TlsSettings, tls_context

__all__ = [  # the path helpers are the monitor's own as well
    "MonitorReport",
    "MonitorSpec",
    "Poll",
    "monitor_dict",
    "monitor_redactor",
    "parse_path",
    "poll_count",
    "render_monitor_markdown",
    "render_monitor_text",
    "resolve",
    "run_monitor",
    "scalar_text",
]

MAX_BODY: Final = 1024 * 1024  # a status document is small; more than this is not one
MAX_POLLS: Final = 10_000
MARKDOWN_POLLS: Final = 20  # the job summary shows the last polls only
FATAL_STATUSES: Final = frozenset({401, 403, 407})  # credentials refused: polling on cannot help

Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class MonitorSpec:
    url: str
    token: str | None = field(default=None, repr=False)
    path: str = "status"  # dotted, list indexes allowed: "status", "data.status", "monitors.0.status"
    expected: str = "up"
    wait: float = 0.0  # seconds before the first poll (the seed's sleep 90)
    interval: float = 10.0
    timeout: float = 300.0  # how long to keep polling after the wait
    request_timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    tls: TlsSettings = field(default_factory=TlsSettings)  # a private CA, or no verification, for an https API

    def __post_init__(self) -> None:
        """Bad values raise UsageError naming the field; the CLI and the action rename it."""
        check_url(self.url, "url")
        for name in ("wait", "interval", "timeout", "request_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise UsageError(name, f"must be a finite number of seconds >= 0, got {value!r}")
            if name != "wait" and value == 0:
                raise UsageError(name, "must be more than 0")
        if poll_count(self) > MAX_POLLS:
            raise UsageError("interval", f"too short for the timeout: at most {MAX_POLLS} polls")
        try:
            parse_path(self.path)
        except ValueError as exc:
            raise UsageError("path", str(exc)) from None
        if self.token is not None and (not self.token.strip() or any(c in self.token for c in "\r\n")):
            raise UsageError("token", "must be one non-empty line")
        for name, value in self.headers.items():
            if any(c in f"{name}{value}" for c in "\r\n\0"):
                raise UsageError("headers", f"{name} holds a line break")
            if self.token is not None and name.lower() == "authorization":
                raise UsageError("token", "an Authorization header is also given; keep one")
        _check_tls(self.tls)


def _check_tls(tls: TlsSettings) -> None:
    """A CA or certificate file that cannot be loaded is bad input, named before any poll."""
    for name, settings in (("ca_file", TlsSettings(ca_file=tls.ca_file)), ("client_cert", tls)):
        if settings.ca_file is None and settings.client_cert is None:
            continue
        try:
            tls_context(settings)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise UsageError(name, f"cannot load it: {shorten(str(exc), 120)}") from None


class Poll(NamedTuple):
    t: float  # seconds since the monitor started, when this poll was sent
    http_status: int | None
    observed: str | None  # the scalar at the path, as text; None when there was none
    note: str  # what happened, one line (redacted)


@dataclass(slots=True)
class MonitorReport:
    url: str
    path: str
    expected: str
    ok: bool = False
    observed: str | None = None  # the last value seen at the path
    polls: int = 0
    elapsed_s: float = 0.0
    reason: str | None = None  # None when ok
    history: list[Poll] = field(default_factory=list)
    wait: float = 0.0
    interval: float = 0.0
    timeout: float = 0.0
    proxy: str | None = None  # the proxy the environment chose, shown without its credentials


def monitor_redactor(spec: MonitorSpec, redact: Redactor | None = None) -> Redactor:
    """A redactor that knows the spec's secrets (token, credential headers, URL and proxy credentials)."""
    redact = redact if redact is not None else Redactor()
    redact.add(spec.token.strip() if spec.token else None)
    redact.add_headers(spec.headers)
    redact.add_url(spec.url)
    return redact_env_proxies(redact)


def poll_count(spec: MonitorSpec) -> int:
    """How many polls fit: poll k starts at wait + k * interval, strictly before wait + timeout."""
    return max(1, math.ceil(spec.timeout / spec.interval))


async def run_monitor(
    spec: MonitorSpec, *, sleep: Sleep = asyncio.sleep, clock: Callable[[], float] | None = None
) -> MonitorReport:
    """Poll until ok, refused or out of time. ``sleep`` and ``clock`` (monotonic seconds) are for tests.

    The polling half (``monitor_poll``, on aiohttp) loads with the first poll: see ``support.lazy``.
    """
    report: MonitorReport = await load("mcpgate.app.postdeploy.monitor_poll").poll_monitor(spec, sleep, clock)
    return report


def request_headers(spec: MonitorSpec) -> dict[str, str]:
    headers = {"Accept": "application/json", **spec.headers}
    if spec.token:
        headers["Authorization"] = f"Bearer {spec.token.strip()}"
    return headers


def failure_reason(report: MonitorReport, last_status: int | None) -> str:
    """Why a monitor that did not see the expected value failed: its last poll, and why it stopped."""
    last = report.history[-1].note if report.history else "no poll was made"
    if last_status in FATAL_STATUSES:
        if last_status == 407:
            who = "the proxy"
        else:  # some proxies answer a bad login with 401 too, so with one in the way either may refuse
            who = f"the API or the proxy {report.proxy}" if report.proxy else "the API"
        return f"{last} (not retried: {who} refuses these credentials)"
    took = format_duration(round(report.elapsed_s, 3))
    return f"{last} (last of {report.polls} poll(s); gave up after {took})"


def judge_body(
    spec: MonitorSpec, keys: tuple[Part, ...], status: int, body: bytes, content_type: str
) -> tuple[str | None, str]:
    """A whole 2xx body: (the value at the path, a note for people)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None, f"HTTP {status} but the body is not JSON: {body_excerpt(body, content_type)}"
    try:
        value = resolve(document, keys)
    except LookupError as exc:
        return None, str(exc.args[0])
    where = spec.path or "the document"
    if isinstance(value, dict | list):
        return None, f"{where} is {kind(value)}, not a value to compare"
    observed = scalar_text(value)
    if observed == spec.expected:
        return observed, f"{where} is {_quoted(observed)}"
    return observed, f"{where} is {_quoted(observed)}, expected {_quoted(spec.expected)}"


def _quoted(text: str) -> str:
    return json.dumps(shorten(text, 80), ensure_ascii=False)


# -- rendering: pure functions of the report ---------------------------------------------------


def monitor_dict(report: MonitorReport, redact: Redactor) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "url": redact.url(report.url),
        "path": report.path,
        "expected": redact(report.expected),
        "observed": redact(report.observed) if report.observed is not None else None,
        "polls": report.polls,
        "elapsed_ms": round(report.elapsed_s * 1000, 3),
        "wait_ms": round(report.wait * 1000, 3),
        "interval_ms": round(report.interval * 1000, 3),
        "timeout_ms": round(report.timeout * 1000, 3),
        "proxy": redact.url(report.proxy) if report.proxy is not None else None,
        "reason": redact(report.reason) if report.reason is not None else None,
        "history": [
            {
                "t_ms": round(p.t * 1000, 3),
                "http_status": p.http_status,
                "observed": redact(p.observed) if p.observed is not None else None,
                "note": redact(p.note),
            }
            for p in report.history
        ],
    }


def render_monitor_text(report: MonitorReport, redact: Redactor) -> str:
    lines = [
        f"mcpgate monitor {redact.url(report.url)}",
        f"  expect    {report.path or '.'} == {_quoted(redact(report.expected))}",
        f"  schedule  {_schedule(report)}",
        *([f"  proxy     {redact.url(report.proxy)}"] if report.proxy is not None else []),
        "",
    ]
    for number, poll in enumerate(report.history, 1):
        mark = MARK_OK if report.ok and number == len(report.history) else MARK_FAIL
        status = str(poll.http_status) if poll.http_status is not None else "-"
        at = f"+{poll.t:.2f}s"
        lines.append(redact(f"  {mark} poll {number:<3} {at:>9}  {status:>3}  {poll.note}"))
    lines.append("")
    if report.ok:
        took = f"{report.elapsed_s:.2f}s"
        lines.append(f"ok: {report.path or '.'} is {_quoted(redact(report.expected))} after {_polls(report)} in {took}")
    else:
        lines.append(f"FAILED: {redact(report.reason or 'unknown')}")
    return "\n".join(lines)


def render_monitor_markdown(report: MonitorReport, redact: Redactor) -> str:
    """A section for a GitHub job summary: the verdict, then the last polls as a table."""
    expect = f"`{md_cell(report.path or '.')}` == `{md_cell(redact(report.expected))}`"
    if report.ok:
        head = f"### ✅ Monitor: {expect} after {_polls(report)} ({report.elapsed_s:.1f}s)"
    else:
        head = f"### ❌ Monitor: {md_cell(redact(report.reason or 'unknown'))}"
    through = f" · through the proxy `{md_cell(redact.url(report.proxy))}`" if report.proxy is not None else ""
    lines = [head, "", f"`{md_cell(redact.url(report.url))}` · {md_cell(_schedule(report))}{through}", ""]
    shown = report.history[-MARKDOWN_POLLS:]
    skipped = len(report.history) - len(shown)
    if shown:
        lines += ["| Poll | At | HTTP | Observed | Note |", "|---:|---:|---:|---|---|"]
        for number, poll in enumerate(shown, skipped + 1):
            status = str(poll.http_status) if poll.http_status is not None else "-"
            observed = md_cell(redact(poll.observed)) if poll.observed is not None else "-"
            lines.append(f"| {number} | +{poll.t:.2f}s | {status} | {observed} | {md_cell(redact(poll.note))} |")
        if skipped:
            lines.append("")
            lines.append(f"_{skipped} earlier poll(s) not shown._")
    return "\n".join(lines).rstrip() + "\n"


def _schedule(report: MonitorReport) -> str:
    wait = f"wait {format_duration(report.wait)}, then " if report.wait else ""
    every, limit = format_duration(report.interval), format_duration(report.timeout)
    return f"{wait}poll every {every} for up to {limit}"


def _polls(report: MonitorReport) -> str:
    return "1 poll" if report.polls == 1 else f"{report.polls} polls"
