"""The monitor's polling half: the GETs through aiohttp (``support.web``), each bounded and
judged by ``monitor``. Loaded with the first poll (``support.lazy``), so a process that never
polls never imports aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import NamedTuple

import aiohttp

from mcpgate.app.postdeploy.monitor import (
    FATAL_STATUSES,
    MAX_BODY,
    MonitorReport,
    MonitorSpec,
    Poll,
    Sleep,
    failure_reason,
    judge_body,
    monitor_redactor,
    poll_count,
    request_headers,
)
from mcpgate.protocol.http import body_excerpt
from mcpgate.protocol.outcome import shorten
from mcpgate.support.jsonpath import Part, parse_path
from mcpgate.support.web import EnvProxy, env_proxy, web_session
from mcpgate.support.webfail import web_failure


async def poll_monitor(spec: MonitorSpec, sleep: Sleep, clock: Callable[[], float] | None) -> MonitorReport:
    """``monitor.run_monitor``'s work."""
    redact = monitor_redactor(spec)
    keys = parse_path(spec.path)
    proxy = env_proxy(spec.url)
    report = MonitorReport(
        spec.url, spec.path, spec.expected, wait=spec.wait, interval=spec.interval, timeout=spec.timeout
    )
    report.proxy = proxy.address if proxy is not None else None
    now = clock if clock is not None else asyncio.get_running_loop().time
    last_status: int | None = None
    async with web_session(timeout=spec.request_timeout, tls=spec.tls, limit=1, netrc=False) as http:
        t0 = now()  # the schedule starts once the session is ready (loading the roots takes a while)
        deadline = t0 + spec.wait + spec.timeout
        for k in range(poll_count(spec)):
            delay = t0 + spec.wait + k * spec.interval - now()
            if delay > 0:
                await sleep(delay)
            left = deadline - now()
            if left <= 0:
                break
            sent = now() - t0
            request = _Request(http, spec, request_headers(spec), proxy, min(spec.request_timeout, left))
            last_status, observed, note = await _poll(request, keys)
            report.history.append(Poll(sent, last_status, observed, redact(note)))
            report.polls += 1
            report.observed = observed
            if observed == spec.expected:
                report.ok = True
                break
            if last_status in FATAL_STATUSES:
                break
    report.elapsed_s = now() - t0
    if not report.ok:
        report.reason = failure_reason(report, last_status)
    return report


class _Request(NamedTuple):
    http: aiohttp.ClientSession
    spec: MonitorSpec
    headers: Mapping[str, str]
    proxy: EnvProxy | None
    bound: float  # seconds this request may take, all told


async def _poll(request: _Request, keys: tuple[Part, ...]) -> tuple[int | None, str | None, str]:
    """One GET: (HTTP status, the value at the path, a note for people)."""
    spec, proxy, bound = request.spec, request.proxy, request.bound
    answered: int | None = None
    try:
        async with asyncio.timeout(bound):
            async with request.http.get(
                spec.url,
                headers=request.headers,
                allow_redirects=False,
                proxy=proxy.url if proxy is not None else None,
                timeout=aiohttp.ClientTimeout(total=bound, sock_connect=bound),
            ) as resp:
                status = answered = resp.status
                body, cut = await _read_capped(resp, MAX_BODY)
                content_type = resp.content_type
                location = resp.headers.get("Location")
                reason = resp.reason or ""
    except Exception as exc:
        return answered, None, web_failure(exc, timeout=bound, proxy=proxy.address if proxy is not None else None)
    if 300 <= status < 400:
        to = f" to {shorten(location, 100)!r}" if location else ""
        return status, None, f"HTTP {status} redirect{to} (not followed: the token stays with the URL given)"
    if not 200 <= status < 300:
        detail = f": {body_excerpt(body, content_type)}" if body.strip() else ""
        return status, None, shorten(f"HTTP {status} {reason}".rstrip() + detail)
    if cut:
        return status, None, f"HTTP {status} but the body is larger than {MAX_BODY} bytes"
    return status, *judge_body(spec, keys, status, body, content_type)


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether there was more."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await resp.content.readany():
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False
