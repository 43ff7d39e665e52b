"""The verbs, each a request in and results out: ``run``, ``merge``, and the target of ``probe`` and ``smoke``.

Everything a door hands over is checked here, once: the target options, the
files the run reads and writes, the guards on production and on sharding a
search. Errors name the option by its canonical name (requests.py), which the
door spells its own way.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from mcpgate.app.checks import (
    Notice,
    auth_flags,
    bearer_token,
    check_outputs,
    check_ranges,
    check_versions,
    header_map,
    read_baseline,
    read_template,
)
from mcpgate.app.deliver import Outputs, deliver
from mcpgate.app.init import TRIAL_TIMEOUT, Given, check_output, discover, starter_config, write_checked
from mcpgate.app.inline import breakpoint_section, tools
from mcpgate.app.merge import Merged, expand, judged, read_shard
from mcpgate.app.merge import merge as merge_shards
from mcpgate.app.requests import Judged, MergeRequest, RunRequest
from mcpgate.app.run import RunOptions, run_plan
from mcpgate.config.assemble import Overrides, assemble, merged_auth
from mcpgate.config.models import TargetConfig
from mcpgate.config.target import check_url
from mcpgate.plan.build import Plan, build_plan, production_guard, shard_guard
from mcpgate.plan.connect import connect_spec as target_spec
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.protocol.versions import AUTO
from mcpgate.results.schema import Results
from mcpgate.support import eventloop
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor


def run(
    request: RunRequest, *, out: TextIO | None = None, err: TextIO | None = None, notice: Notice | None = None
) -> Results:
    """The run the request describes, to its results (written where the request says)."""
    plan, options = prepare(request, notice)
    return eventloop.run(run_plan(plan, options, out=out, err=err))


def plan_of(request: RunRequest) -> Plan:
    """The plan the request's config and options make."""
    config = request.path(request.config) if request.config is not None else None
    return build_plan(assemble(config, overrides(request)))


def target_of(request: RunRequest) -> tuple[ConnectSpec, Redactor]:
    """The target a run of this request would load: for a smoke check of it instead."""
    plan = plan_of(request)
    return plan.connect, plan.redact


def prepare(request: RunRequest, notice: Notice | None = None) -> tuple[Plan, RunOptions]:
    """The plan and its options, or the first thing wrong with the request."""
    check_outputs(request)
    baseline = read_baseline(request, notice)
    template = read_template(request)
    plan = plan_of(request)
    if request.environment == "production":
        production_guard(plan, request.allow_production_load)
    floor = max(0.1, plan.duration / 5000)
    if request.interval is not None and request.interval < floor:
        raise UsageError("interval", f"must be at least {floor:g}s for this run's length")
    shard_guard(plan, request.shard is not None, "shard")
    options = RunOptions(
        out=_resolved(request, request.out),
        markdown=_resolved(request, request.markdown),
        junit=_resolved(request, request.junit),
        summary_template=template,
        interval=request.interval,
        progress=not request.no_progress,
        last_act=request.last_act,
        baseline=baseline,
        max_regression=request.max_regression,
        workers=request.workers or None,
        max_drift=request.max_drift,
        drift_window=request.drift_window,
        shard=request.shard,
        start_at=request.start_at,
    )
    return plan, options


def _resolved(request: Judged, given: Path | None) -> Path | None:
    return request.path(given) if given is not None else None


def overrides(request: RunRequest) -> Overrides:
    """The request's options as config overrides: only the options given count."""
    check_ranges(request)
    if request.url is not None:
        check_url(request.url, "url")
    check_versions(request.transport, request.protocol_version, request.expect_protocol_version)
    headers = header_map(request.headers)
    token = bearer_token(request.bearer_token, headers)
    target: dict[str, object] = {}
    for key in ("transport", "protocol_version", "expect_protocol_version", "timeout", "connect_timeout"):
        value = getattr(request, key)
        if value is not None:
            target[key] = value
    if request.no_cookies:
        target["cookies"] = False
    if request.max_response_bytes is not None:
        target["max_response_bytes"] = request.max_response_bytes
    if request.insecure:
        target["insecure"] = True
    if request.ca_file is not None:
        target["ca_file"] = str(request.path(request.ca_file))
    for key in ("client_cert", "client_key"):
        path = getattr(request, key)
        if path is not None:
            target[key] = str(request.path(path))
    for key in ("proxy", "no_proxy"):
        if getattr(request, key) is not None:
            target[key] = getattr(request, key)
    if token is not None:
        target["bearer_token"] = token
    return Overrides(
        url=request.url,
        target=target,
        headers=headers,
        profile=request.profile,
        vus=request.vus,
        duration=request.duration,
        thresholds=request.thresholds,
        seed=request.seed,
        env_token=request.env_token,
        auth=auth_flags(request),
        env_auth=dict(request.env_auth),
        tools=_tools(request),
        require_calls=request.require_calls,
        min_breaking_point=request.min_breaking_point,
        breakpoint=breakpoint_section(request.breakpoint, "breakpoint"),
    )


def _tools(request: RunRequest) -> tuple[dict[str, object], ...] | None:
    mix = tools(request.tools, request.base, "tools")
    return tuple(mix) if mix is not None else None


def merged(request: MergeRequest, *, notice: Notice | None = None, warn: Notice | None = None) -> Merged:
    """The shards merged into their run's results and judged: against a baseline, and for drift."""
    outputs = check_outputs(request)
    baseline = read_baseline(request, notice)
    read_template(request)
    base = request.base if request.under_base else None
    try:
        files = expand(request.files, base=base, skip=outputs)
    except UsageError as exc:
        raise UsageError("files", str(exc)) from None
    shards = [read_shard(f, _shown(f, base)) for f in files]
    merged = merge_shards(shards, allow_missing=request.allow_missing)
    results = judged(
        merged,
        baseline=baseline,
        max_regression=request.max_regression,
        max_drift=request.max_drift,
        window=request.drift_window,
    )
    for warning in merged.warnings:
        if warn is not None:
            warn(warning)
    return Merged(results, merged.warnings, merged.steady_known, merged.steady)


def hand_over(results: Results, request: Judged, out: TextIO, err: TextIO) -> None:
    """A merge's results to the console and the files the request names."""
    options = Outputs(
        out=_resolved(request, request.out),
        markdown=_resolved(request, request.markdown),
        junit=_resolved(request, request.junit),
        summary_template=read_template(request),
    )
    deliver(results, options, out, err)


def merge(request: MergeRequest, *, notice: Notice | None = None, warn: Notice | None = None) -> Results:
    """``mcpgate merge``: merged, judged, and handed over."""
    results = merged(request, notice=notice, warn=warn).results
    hand_over(results, request, sys.stdout, sys.stderr)
    return results


def _shown(path: Path, base: Path | None) -> str | None:
    """A shard file as the user named it: relative to the workspace when it lies there."""
    if base is None:
        return None
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def connect_target(url: str, request: RunRequest) -> tuple[ConnectSpec, Redactor]:
    """The target of one session (``probe``, ``smoke``): the same checks as a run's target, with its defaults."""
    check_url(url, "URL")
    check_ranges(request)
    check_versions(request.transport, request.protocol_version, request.expect_protocol_version)
    headers = header_map(request.headers)
    token = bearer_token(request.bearer_token or request.env_token, headers)
    given = {
        "url": url,
        "transport": request.transport or AUTO,
        "protocol_version": request.protocol_version or AUTO,
        "expect_protocol_version": request.expect_protocol_version,
        "headers": headers,
        "bearer_token": token,
        "auth": merged_auth({}, flags, dict(request.env_auth)) if (flags := auth_flags(request)) else None,
        "timeout": request.timeout,
        "connect_timeout": request.connect_timeout,
        "cookies": False if request.no_cookies else None,
        "max_response_bytes": request.max_response_bytes,
        "insecure": request.insecure,
        "ca_file": str(request.path(request.ca_file)) if request.ca_file is not None else None,
        "client_cert": str(request.path(request.client_cert)) if request.client_cert is not None else None,
        "client_key": str(request.path(request.client_key)) if request.client_key is not None else None,
        "proxy": request.proxy,
        "no_proxy": request.no_proxy,
    }
    target = TargetConfig.model_validate({k: v for k, v in given.items() if v is not None})
    return target_spec(target)


def init(url: str, request: RunRequest, output: Path, *, force: bool = False) -> Path:
    """``mcpgate init``: one session against ``url``, and the starter config it makes, written to ``output``."""
    spec, redact = connect_target(url, request)
    path = request.path(output)
    check_output(path, force)
    if request.timeout is None:  # a trial call that takes longer is left out anyway: no need to wait for it
        spec = replace(spec, settings=replace(spec.settings, timeout=TRIAL_TIMEOUT))
    found = eventloop.run(discover(spec))
    given = Given(
        url=url,
        token=bool(request.bearer_token or request.env_token),
        headers=tuple(dict.fromkeys(k for k, _ in request.headers)),
        transport=request.transport if request.transport not in (None, AUTO) else None,
        protocol_version=request.protocol_version if request.protocol_version not in (None, AUTO) else None,
        oauth=request.auth,
    )
    write_checked(path, redact(starter_config(found, given)), given)
    return path
