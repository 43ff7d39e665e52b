"""The Markdown job summary: a pure function of ``Results``, rendered by jinja2 templates.

Verdict first, then the numbers behind it, then how the run evolved, so the
first screen of a GitHub job summary answers "did it pass, and why". GitHub
drops a step summary larger than 1 MiB, so the rendering is trimmed to
``max_bytes`` (least important parts first) and a final line says what went.
Charts are unicode sparklines in a code block: they read the same wherever
Markdown does not render (mermaid is not confirmed to render in job summaries).

A user's own template (``--summary-template``) renders in a sandbox with the
context below; it may include the built-in parts as ``mcpgate/<name>.md.j2``
(``verdict``, ``thresholds``, ``latency``, ``streams``, ``errors``, ``run``,
``timeline``, ``summary``, ``breakpoint``). Its output is held to ``max_bytes`` like the built-in one
(the context is trimmed the same way, the trim line appended). Undefined
variables are errors. Strings from the server or the
config are raw: pass them through the ``cell`` filter before they land in
Markdown. Filters: ``cell`` (``md_cell``, optional length limit), ``ms``,
``pct``, ``count``, ``size`` (the formats of ``mcpgate.support.format``).

Context variables (``summary_context`` in ``mcpgate.report.context``):

- ``verdict``: dict with ``status`` (passed, failed, aborted, interrupted,
  not_started, error), ``passed`` (bool), ``label`` ("FAILED: thresholds
  crossed"), ``icon``, ``exit_code``, ``reason`` (one line: why).
- ``thresholds``: list of dicts with ``ok``, ``mark`` (✓/✗), ``metric``,
  ``expression``, ``aggregation``, ``value`` (float or None), ``observed``
  (the value in the metric's units: "p(95)=1.81s", "no data"),
  ``abort_on_fail``, ``aborted_run``; ``thresholds_failed``: how many failed.
- ``phases``, ``tools``: lists of dicts with ``name``, ``count``, ``errors``,
  ``error_rate`` (fraction), ``p50``, ``p95``, ``p99``, ``avg``, ``max`` (ms);
  ``tools_omitted``: tools left out to fit the size limit (0 normally).
- ``errors``: list of dicts with ``kind`` (the error class), ``count``,
  ``other`` (occurrences whose reasons were not kept), ``samples`` (list of
  dicts with ``reason``, ``method``, ``tool`` (or None), ``count``);
  ``error_total``: all errors.
- ``run``: the run's record (``status``, ``exit_code``, ``reason``,
  ``started_at``, ``ended_at``, ``duration_s``, ``profile``, ``source``,
  ``config_digest``, ``mcpgate_version``, ``interrupted_iterations``,
  ``notes``, ``shard``: None, or ``index`` (None when merged), ``count``,
  ``start_at``, ``lag_s``, ``merged``, ``missing``, ``runs``); ``target``: ``url``, ``transport``, ``protocol_version``,
  ``server_info``, ``chosen``, ``tools``, ``capabilities`` (the server's, as given), ``instructions``,
  ``unexercised`` (list); ``server``: "name version" or ""; ``capabilities``: the server's
  capabilities in one line; ``instructions``: its instructions shortened to one line;
  ``unexercised``: "prompts, logging offered but not exercised" or ""; ``warnings``: list of
  one-line warnings (a run that called no tool);
  ``scenarios``: list of dicts with ``name``, ``executor``, ``description``,
  ``max_vus``, ``start_time``, ``duration``; ``vus_max``: int or None.
- ``totals``: list of dicts with ``name`` and ``value`` (formatted text).
- ``timeline``: None, or a dict with ``interval_s``, ``points`` (how many),
  ``per_row`` (points merged per table row), ``rows`` (list of dicts with
  ``start``, ``end`` (seconds), ``vus`` (max), ``requests``, ``rps``,
  ``failed``, ``errors``, ``iterations``, ``dropped`` (sums), ``p95`` (worst,
  ms, or None)), ``per_char`` (points one sparkline character merges) and
  ``sparklines`` (list of dicts with ``name``, ``line``, ``summary``).
- ``streams``: None (no stream was held, no server message came), or a dict with
  ``held``, ``max_open``, ``open_at_end``, ``p50``, ``p95``, ``longest`` (ms, or
  None), ``events``, ``closed``, ``stalled`` (counts), ``notifications`` and
  ``requests`` (lists of ``[method, count]``, busiest first), and ``rows`` (list of
  dicts with ``name`` and ``value``: the console's lines).
- ``baseline``: None, or the comparison with a baseline run: ``ok``, ``started``,
  ``limit`` (e.g. "20%"), ``regressions`` (how many), ``deltas`` (list of dicts
  with ``mark``, ``metric``, ``stat``, ``baseline``, ``current`` (formatted),
  ``change`` (e.g. "+12.5%"), ``regressed``), ``notes`` (what makes the comparison
  less telling: another config or target, a baseline that did not pass).
- ``drift``: None, or the first and last windows of steady load compared (the
  part ``mcpgate/drift.md.j2`` renders it): ``verdict`` ("no drift", "2
  drifted", "reported only", "not judged"), ``judged`` (bool), ``ok``,
  ``note`` (why it was not judged), ``reason`` (the failure line, or ""),
  ``heading`` (the windows, the steady load, the limit), ``limit`` ("20%", or
  None: reported only), ``window`` ("4m"), ``load`` (what ran steadily),
  ``span`` (when, e.g. "2m–12m"), ``first_span`` and ``last_span`` (what
  each window's intervals cover, e.g. "2m–4m30s", or ""), ``drifted`` (how many rows), ``rows`` (list
  of dicts with ``mark`` (✓, ✗, · when not gated, - when not judged),
  ``metric``, ``stat``, ``first``, ``last`` (formatted), ``change`` (e.g.
  "+12.5%"), ``judged``, ``drifted``, ``note``); ``drift_omitted``: rows left
  out to fit the size limit.
- ``breakpoint``: None, or the breakpoint search: ``headline`` ("120
  iterations/s", "not reached up to 200 iterations/s"), ``found``,
  ``complete``, ``reason``, ``ladder`` (the levels and timing), ``limits``
  (what breaks a step besides the thresholds), ``held`` (None, or the
  breaking point's step: ``step``, ``level``, ``throughput``, ``rps``,
  ``p95``, ``p95_tool``, ``error_rate``), ``broke`` (None, or a dict with
  ``step``, ``level`` and ``failures``, a list of one-line reasons),
  ``gate`` (None, or a dict with ``minimum`` and ``ok``: True, False, or None
  when the search did not end), ``shown`` (the step whose thresholds
  ``thresholds`` shows), ``rows`` (the last ``MAX_TABLE_ROWS`` steps: dicts
  with ``mark``, ``step``, ``level``, ``throughput``, ``rps``, ``p95``,
  ``p95_tool`` (ms or None), ``error_rate``, ``dropped``, ``held``,
  ``partial``, ``breaking``), and ``omitted`` (earlier steps left out).
- ``results``: the ``Results`` model itself, untrimmed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from mcpgate.report.context import summary_context
from mcpgate.report.escape import md_cell
from mcpgate.report.trim import fit
from mcpgate.results.schema import Results
from mcpgate.support.format import count, ms, pct, size

_ENTRY = "mcpgate/summary.md.j2"


def _configure(env: jinja2.Environment) -> jinja2.Environment:
    env.filters.update(cell=md_cell, ms=ms, pct=pct, count=count, size=size)
    return env


def _options() -> dict[str, Any]:
    return {
        "autoescape": False,  # Markdown, not HTML: values are escaped by the ``cell`` filter where they land
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
    }


def _builtin_loader() -> jinja2.BaseLoader:
    return jinja2.PrefixLoader({"mcpgate": jinja2.PackageLoader("mcpgate.report", "templates")})


@cache
def _builtin_env() -> jinja2.Environment:
    return _configure(jinja2.Environment(loader=_builtin_loader(), **_options()))


def _user_env(folder: Path) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(folder), _builtin_loader()])
    return _configure(SandboxedEnvironment(loader=loader, **_options()))


def render_markdown(results: Results, *, template: Path | None = None, max_bytes: int = 1_000_000) -> str:
    """The job summary, at most ``max_bytes`` bytes of UTF-8; a user ``template`` gets the same context.

    Template errors (syntax, undefined names, sandbox violations, unreadable
    file) raise ``ValueError`` with one line naming the file and line.
    """
    if template is None:
        compiled = _builtin_env().get_template(_ENTRY)
        return fit(compiled.render, summary_context(results), max_bytes)
    name = template.name
    try:
        compiled = _user_env(template.parent).get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise ValueError(f"summary template {template}: not found ({exc.message or exc.name})") from None
    except (jinja2.TemplateError, OSError, UnicodeDecodeError) as exc:
        raise _template_error(template, exc) from None

    def render(ctx: dict[str, Any]) -> str:
        try:
            return compiled.render(ctx)
        except Exception as exc:  # a user's template may fail in any way: it is input, not a bug
            raise _template_error(template, exc) from None

    return fit(render, summary_context(results), max_bytes)


def render_drift(results: Results) -> str:
    """Only the drift section (``mcpgate drift --format md``)."""
    return _builtin_env().get_template("mcpgate/drift.md.j2").render(summary_context(results))


def _template_error(template: Path, exc: BaseException) -> ValueError:
    """One line: the file (and the included one, if the error is there), the line, what went wrong."""
    filename, line = _template_frame(exc.__traceback__)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        filename, line = exc.filename, exc.lineno
    where = str(template)
    if filename and Path(filename).name != template.name:
        where += f" (in {Path(filename).name})"
    if line:
        where += f", line {line}"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return ValueError(f"summary template {where}: {' '.join(str(message).split())}")


def _template_frame(tb: TracebackType | None) -> tuple[str | None, int | None]:
    """The innermost template frame of an error: jinja rewrites tracebacks so these carry file and line."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
