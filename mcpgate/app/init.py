"""``mcpgate init URL``: one real session, and a commented starter config written from what it found.

The session lists the server's tools, resources and prompts as a client would. The file puts
every read-only tool (``readOnlyHint``) in the mix with arguments synthesized from its
inputSchema, written out as plain values to edit; the others are listed commented out (they may
write). The token and header values are environment references, never the values themselves.
The text is written by hand so its comments survive, each value dumped by yaml.safe_dump, and it
is loaded by the real loader and planned before it replaces anything on disk.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from mcpgate.config.assemble import Overrides, assemble
from mcpgate.config.profiles import profile
from mcpgate.plan.build import build_plan
from mcpgate.protocol.http import make_http
from mcpgate.protocol.jsonrpc import IdSource
from mcpgate.protocol.negotiate import ConnectSpec, connect
from mcpgate.protocol.records import ServerIdentity, Step, ToolInfo, first_failure, step_label
from mcpgate.protocol.session import McpSession
from mcpgate.results.server import capability_line, shorten
from mcpgate.support import exitcodes
from mcpgate.support.errors import UsageError
from mcpgate.workload.synthesize import synthesize_arguments

TOKEN_VAR: Final = "MCP_TOKEN"
MAX_LISTED: Final = 10  # resources and prompts named in the file's comments
MAX_TRIALS: Final = 20  # read-only tools called once each, to see the synthesized arguments work
TRIAL_TIMEOUT: Final = 5.0  # seconds per request of the session, unless --timeout says otherwise
SLOW: Final = 3.0  # seconds: a trial call slower than the seed's p(95) limit is left out of the mix
SEED_THRESHOLDS: Final = "load"  # the seed guide's main thresholds are its load profile's
_TOOL_METRICS = ("mcp_tool_errors", "mcp_tool_duration")


class InitFailed(Exception):
    """No config could be written: the server could not be reached, or the written file did not check."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Found:
    """What the session learned of the server."""

    identity: ServerIdentity | None = None
    chosen: str = ""
    tools: list[ToolInfo] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)  # uris
    prompts: list[str] = field(default_factory=list)  # "name (arg, arg)"
    left_out: dict[str, str] = field(default_factory=dict)  # read-only tools whose trial call says why not

    @property
    def capabilities(self) -> dict[str, Any]:
        caps = self.identity.capabilities if self.identity is not None else None
        return caps or {}


@dataclass(frozen=True, slots=True)
class Given:
    """The target as the user asked for it: what the file repeats (secrets as references only)."""

    url: str
    token: bool = False
    headers: tuple[str, ...] = ()  # header names; their values go into environment references
    transport: str | None = None
    protocol_version: str | None = None
    oauth: str | None = None  # the grant asked for (--auth); the file says where its settings go


async def discover(spec: ConnectSpec) -> Found:
    """One session: connect, tools/list, resources/list and prompts/list where offered, end."""
    steps: list[Step] = []
    async with make_http(spec.settings) as http:
        conn = await connect(http, spec, ids=IdSource(), sink=steps.append)
        session = conn.session
        if session is None:
            raise InitFailed(exitcodes.COULD_NOT_START, f"could not connect: {_why(steps, conn.outcome.describe())}")
        try:
            found = Found(session.identity, conn.chosen)
            await _listed(session, found, steps)
            await session.close()
        finally:
            session.abandon()
    return found


async def _listed(session: McpSession, found: Found, steps: list[Step]) -> None:
    listed = await session.list_tools()
    if not listed.ok:
        raise InitFailed(exitcodes.COULD_NOT_START, f"tools/list failed: {_why(steps, listed.describe())}")
    found.tools = list(session.tools.values())
    caps = found.capabilities
    if "resources" in caps:
        answer = await session.request("resources/list", {})
        items = (answer.result or {}).get("resources")
        found.resources = [str(r.get("uri")) for r in items if isinstance(r, dict)] if isinstance(items, list) else []
    if "prompts" in caps:
        answer = await session.request("prompts/list", {})
        items = (answer.result or {}).get("prompts")
        found.prompts = [_prompt(p) for p in items if isinstance(p, dict)] if isinstance(items, list) else []
    await _tried(session, found)


async def _tried(session: McpSession, found: Found) -> None:
    """Each read-only tool called once with its synthesized arguments: a mix that fails or crawls is no start."""
    for tool in [t for t in found.tools if t.read_only][:MAX_TRIALS]:
        answer = await session.call_tool(tool.name, synthesize_arguments(tool.input_schema))
        if not answer.outcome.ok:
            found.left_out[tool.name] = f"its trial call with these arguments failed: {answer.outcome.describe()}"
        elif answer.step.duration > SLOW:
            found.left_out[tool.name] = (
                f"its trial call took {answer.step.duration:.1f}s, over the thresholds' p(95) of {SLOW:g}s"
            )


def _prompt(item: Mapping[str, Any]) -> str:
    args = item.get("arguments")
    names = [str(a.get("name")) for a in args if isinstance(a, dict)] if isinstance(args, list) else []
    return f"{item.get('name')} ({', '.join(names)})" if names else str(item.get("name"))


def _why(steps: list[Step], fallback: str) -> str:
    step = first_failure(steps)
    return f"{step_label(step)}: {step.outcome.describe()}" if step is not None else fallback


# -- the text ----------------------------------------------------------------------------------


def starter_config(found: Found, given: Given) -> str:
    """The commented YAML: target, profile, flow, thresholds, and what else the server offers."""
    lines = _head(found, given)
    lines += ["", *_target(given), "", *_profile(), "", *_flow(found), "", *_thresholds(found)]
    lines += _offered(found)
    return "\n".join(lines) + "\n"


def _head(found: Found, given: Given) -> list[str]:
    lines = [f"# mcpgate starter config for {_comment(given.url)}, written by `mcpgate init`."]
    identity = found.identity
    if identity is not None:
        info = identity.server_info or {}
        who = _comment(f"{info.get('name', '?')} {info.get('version', '')}".strip())
        lines.append(f"# The server: {who}; {identity.transport}, protocol {identity.protocol_version}.")
        if found.capabilities:
            lines.append(f"# It offers: {_comment(capability_line(found.capabilities))}.")
    lines.append("# Check it with `mcpgate validate FILE`, run it with `mcpgate run -c FILE`.")
    return lines


def _target(given: Given) -> list[str]:
    lines = ["target:", f"  url: {_scalar(given.url)}"]
    if given.transport:
        lines.append(f"  transport: {_scalar(given.transport)}")
    if given.protocol_version:
        lines.append(f"  protocol_version: {_scalar(given.protocol_version)}")
    if given.token:
        lines.append(f"  # The token is read from the environment when the run starts: export {TOKEN_VAR}=...")
        lines.append(f"  bearer_token: ${{{TOKEN_VAR}}}")
    if given.oauth:
        lines.append(f"  # OAuth ({_comment(given.oauth)}) was used to connect: add target.auth (type, client_id,")
        lines.append("  # token_url, scope); the secrets come from MCPGATE_CLIENT_SECRET or MCPGATE_REFRESH_TOKEN.")
    if given.headers:
        lines.append("  # Header values are read from the environment, never written here.")
        lines.append("  headers:")
        lines += [f"    {_scalar(name)}: ${{{header_var(name)}}}" for name in given.headers]
    return lines


def header_var(name: str) -> str:
    """The environment variable a header's value is read from: ``X-Api-Key`` -> ``MCP_HEADER_X_API_KEY``."""
    return "MCP_HEADER_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _profile() -> list[str]:
    return [
        "# The seed guide's smoke profile: 1 VU for 30s. When it passes, try --profile load (the full ramp).",
        "profile: smoke",
    ]


def _flow(found: Found) -> list[str]:
    discover = ["tools", *(k for k in ("resources", "prompts") if k in found.capabilities)]
    lines = [
        "flow:",
        "  # What each session lists when it opens, as real clients do: what the server offers.",
        f"  discover: {_scalar(discover)}",
    ]
    readable = [t for t in found.tools if t.read_only and t.name not in found.left_out]
    others = [t for t in found.tools if not t.read_only]
    tried = [t for t in found.tools if t.name in found.left_out]
    if readable:
        lines.append("  # Read-only tools (readOnlyHint), arguments synthesized from each inputSchema: edit them.")
        lines.append("  tools:")
    else:
        if tried:  # an empty mix is every read-only tool with synthesized arguments: these, failing
            lines.append("  # No read-only tool passed its trial call, and an empty mix calls them all as tried:")
            lines.append("  # fix the arguments of one below, uncomment it and drop the [].")
        else:
            lines.append("  # No tool is marked readOnlyHint: the run calls none, and says so, until you name one")
            lines.append("  # here (uncomment one below and drop the []).")
        lines.append("  tools: []")
    for tool in readable:
        lines += _tool(tool, "    ")
    for tool in tried:
        lines.append(f"  # Read-only, but {_comment(found.left_out[tool.name])}:")
        lines += [f"  # {line}" for line in _tool(tool, "  ")]
    if others:
        lines.append("  # Not read-only: it may write, so a load test calls it only when you uncomment it.")
        for tool in others:
            lines += [f"  # {line}" for line in _tool(tool, "  ")]
    return lines


def _tool(tool: ToolInfo, indent: str) -> list[str]:
    lines = []
    if tool.description:
        lines.append(f"{indent}# {_comment(shorten(tool.description, 100))}")
    lines.append(f"{indent}- name: {_scalar(tool.name)}")
    lines.append(f"{indent}  arguments: {_scalar(synthesize_arguments(tool.input_schema))}")
    return lines


def _thresholds(found: Found) -> list[str]:
    calls = any(t.read_only and t.name not in found.left_out for t in found.tools)
    lines = ["# The seed guide's thresholds: the run fails (exit 99) when one is crossed.", "thresholds:"]
    for metric, rules in profile(SEED_THRESHOLDS)["thresholds"].items():
        line = f"  {metric}: {_scalar(rules)}"
        lines.append(line if calls or metric not in _TOOL_METRICS else f"  # {line.strip()}  (no tool is called yet)")
    return lines


def _offered(found: Found) -> list[str]:
    lines = []
    for what, names in (("resources", found.resources), ("prompts", found.prompts)):
        if names:
            shown = names[:MAX_LISTED]
            more = f" (first {MAX_LISTED} of {len(names)})" if len(names) > MAX_LISTED else ""
            lines += ["", f"# The server's {what}{more}, for steps of your own:"]
            lines += [f"#   {_comment(shorten(name, 120))}" for name in shown]
    return lines


def _scalar(value: Any) -> str:
    """One value as YAML on one line (flow style), exactly as yaml.safe_dump writes it."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=1 << 30)
    text = text.removesuffix("\n").removesuffix("\n...").strip()
    return text.replace("${", "$${")  # the loader reads ${NAME} as the environment's: a value keeps its own


def _comment(text: str) -> str:
    """Server text inside a comment: one line, whatever line breaks or control characters it held."""
    flat = " ".join(str(text).split())
    return "".join(c if c.isprintable() else " " for c in flat)


# -- writing -----------------------------------------------------------------------------------


def check_output(path: Path, force: bool) -> None:
    """Before connecting: the file may be written there (no silent overwrite)."""
    if path.is_dir():
        raise UsageError("output", f"{path} is a directory")
    if path.exists() and not force:
        raise UsageError("output", f"{path} exists; --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError("output", f"no directory {path.parent}")


def write_checked(path: Path, text: str, given: Given) -> None:
    """The text validated as ``mcpgate validate`` would, then put in place atomically."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        with _placeholders([TOKEN_VAR] if given.token else [], given.headers):
            build_plan(assemble(tmp, Overrides()))
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except UsageError as exc:
        raise InitFailed(exitcodes.INTERNAL_ERROR, f"the starter config did not validate: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _placeholders(names: list[str], headers: tuple[str, ...]) -> Iterator[None]:
    """The file's environment references filled in for the check where the environment has none."""
    wanted = [*names, *(header_var(h) for h in headers)]
    added = [n for n in wanted if n not in os.environ]
    for n in added:
        os.environ[n] = "mcpgate-init-check"
    try:
        yield
    finally:
        for n in added:
            os.environ.pop(n, None)
