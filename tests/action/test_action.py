"""The action run the way a GitHub runner runs it: INPUT_* variables, its files, its exit code."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from mcpgate.support import exitcodes
from tests.conftest import PeerFactory

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-token-4f9a2b"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    workspace: Path

    def artefacts(self) -> str:
        """Everything the run left behind, as one text to search (the mask commands, which tell the
        runner what to hide and never reach the log, aside)."""
        log = "\n".join(line for line in self.stdout.splitlines() if not line.startswith("::add-mask::"))
        parts = [log, self.stderr, self.summary, "\n".join(f"{k}={v}" for k, v in self.outputs.items())]
        for path in self.workspace.rglob("*"):
            if path.is_file():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def parse_outputs(text: str) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        name, _, delimiter = lines[i].partition("<<")
        value: list[str] = []
        i += 1
        while lines[i] != delimiter:
            value.append(lines[i])
            i += 1
        outputs[name] = "\n".join(value)
        i += 1
    return outputs


async def action(
    tmp_path: Path, inputs: dict[str, str], *, github: bool = True, args: tuple[str, ...] = (), cwd: Path | None = None
) -> Run:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    commands = tmp_path / "file_commands"
    commands.mkdir(exist_ok=True)
    output, summary = commands / "output", commands / "summary"
    output.write_text("")
    summary.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update({"GITHUB_WORKSPACE": str(workspace), "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)})
    if github:
        env["GITHUB_ACTIONS"] = "true"
    env.update(inputs)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "entrypoint.py"),
        *args,
        cwd=cwd or workspace,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Run(
        proc.returncode, out.decode(), err.decode(), parse_outputs(output.read_text()), summary.read_text(), workspace
    )


def base(url: str) -> dict[str, str]:
    return {
        "INPUT_URL": url,
        "INPUT_PROFILE": "smoke",
        "INPUT_DURATION": "2s",
        "INPUT_VUS": "2",
        "INPUT_BEARER-TOKEN": SECRET,
        "INPUT_HEADERS": "X-Team: gate\nX-Api-Key: key-7c1d9e0f",
        "INPUT_TOOLS": 'get_record: 2 {"id": "rec_{{ randint(1, 9) }}"}\nsearch_records: 1 {"query": "test"}',
        "INPUT_FAIL-ON-THRESHOLDS": "true",
        "INPUT_SUMMARY": "true",
        "INPUT_RESULTS-DIR": "out",
    }


async def test_a_passing_run_writes_every_file(peer: PeerFactory, tmp_path: Path) -> None:
    inputs = {
        **base(peer("stateful-json")),
        "INPUT_THRESHOLDS": "mcp_tool_duration: p(95)<5000, p(99)<8000\nhttp_req_failed: rate<0.01",
    }
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    first = run.stdout.splitlines()[:2]
    assert first == [f"::add-mask::{SECRET}", "::add-mask::key-7c1d9e0f"]  # masks before anything else
    assert "::group::mcpgate: load test" in run.stdout
    assert "::endgroup::" in run.stdout
    out = run.workspace / "out"
    assert run.outputs["passed"] == "true"
    assert run.outputs["exit-code"] == "0"
    assert run.outputs["results-path"] == str(out / "results.json")
    assert run.outputs["summary-path"] == str(out / "summary.md")
    assert run.outputs["junit-path"] == str(out / "junit.xml")
    assert float(run.outputs["p95-ms"]) > 0
    assert float(run.outputs["rps"]) > 0
    assert float(run.outputs["error-rate"]) == 0
    for name in ("results.json", "summary.md", "junit.xml"):
        assert (out / name).is_file()
    # The summary: verdict first, then the thresholds and the tables.
    assert run.summary.lstrip().startswith("#")
    head = run.summary.lstrip().splitlines()[0]
    assert "pass" in head.lower()
    for expected in ("mcp_tool_duration", "p(95)<5000", "http_req_failed", "tools/call"):
        assert expected in run.summary
    assert "get_record" in run.summary or "search_records" in run.summary  # the mix is random
    assert SECRET not in run.artefacts()
    assert "key-7c1d9e0f" not in run.artefacts()


async def test_a_failing_threshold_fails_the_step_with_annotations(peer: PeerFactory, tmp_path: Path) -> None:
    inputs = {**base(peer("stateless-json")), "INPUT_THRESHOLDS": "mcp_tool_duration: p(95)<0.001"}
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.THRESHOLDS_FAILED
    assert run.outputs["passed"] == "false"
    assert run.outputs["exit-code"] == "99"
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error ")]
    assert any(line.startswith("::error title=mcp_tool_duration::p(95)<0.001 failed: ") for line in errors), errors
    assert "fail" in run.summary.lstrip().splitlines()[0].lower()
    assert SECRET not in run.artefacts()


async def test_thresholds_can_warn_instead_of_failing(peer: PeerFactory, tmp_path: Path) -> None:
    inputs = {
        **base(peer("stateless-json")),
        "INPUT_THRESHOLDS": "mcp_tool_duration{tool:get_record}: p(95)<0.001",
        "INPUT_FAIL-ON-THRESHOLDS": "false",
    }
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.OK
    assert run.outputs["exit-code"] == "99"
    assert run.outputs["passed"] == "false"
    warnings = [line for line in run.stdout.splitlines() if line.startswith("::warning ")]
    # The title escapes ':' and ',' as the runner requires.
    assert any(line.startswith("::warning title=mcp_tool_duration{tool%3Aget_record}::") for line in warnings), warnings


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"INPUT_URL": "ftp://x"}, "url: expected an http:// or https:// URL"),
        ({"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_VUS": "many"}, "vus: expected a whole number, got 'many'"),
        ({"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_WORKERS": "-2"}, "workers: must be from 1 to 256 (or 0"),
        (
            {"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_FAIL-ON-THRESHOLDS": "yes"},
            "fail-on-thresholds: expected true or false",
        ),
        ({"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_THRESHOLDS": "mcp_tool_duration p95"}, "thresholds (line 1)"),
        (
            {"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_TOOLS": "get_record: 5 {nope"},
            "tools (line 1): the arguments",
        ),
        (
            {"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_PROFILE": "load", "INPUT_ENVIRONMENT": "production"},
            "production: this run (up to 50 VUs for 14m) is above smoke level",
        ),
        ({}, "url: give url (or config)"),
        ({"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_SHARD": "2/2"}, "shard: expected I/N with I counting from 0"),
        (
            {"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_START-AT": "2026-11-26T10:00:00"},
            "start-at: 2026-11-26T10:00:00 has no zone",
        ),
        (
            {"INPUT_URL": "http://127.0.0.1:1/mcp", "INPUT_MERGE": "shards/*/results.json"},
            "merge: merges the shards' results instead of running a load: drop url",
        ),
        ({"INPUT_MERGE": "shards/*/results.json"}, "merge: shards/*/results.json: no results file matches"),
        ({"INPUT_MERGE": "../elsewhere/*.json"}, "merge: ../elsewhere/*.json: must be a path under the workspace"),
    ],
)
async def test_bad_inputs_are_one_error_and_exit_104(tmp_path: Path, inputs: dict[str, str], message: str) -> None:
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.INVALID_INPUT
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, run.stdout
    assert message in errors[0].replace("%3A", ":").replace("%2C", ",")
    assert "Traceback" not in run.stdout + run.stderr
    assert run.outputs["exit-code"] == "104"


async def test_production_allows_a_smoke_level_run(peer: PeerFactory, tmp_path: Path) -> None:
    inputs = {**base(peer("stateful-json")), "INPUT_ENVIRONMENT": "production", "INPUT_VUS": "1"}
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.OK, run.stdout


async def test_docker_run_with_underscored_inputs_and_no_runner(peer: PeerFactory, tmp_path: Path) -> None:
    inputs = {
        "INPUT_URL": peer("stateful-json"),
        "INPUT_PROFILE": "smoke",
        "INPUT_DURATION": "1s",
        "INPUT_BEARER_TOKEN": SECRET,
    }
    run = await action(tmp_path, inputs, github=False)
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    assert "::" not in run.stdout  # no workflow commands outside GitHub
    assert (run.workspace / "mcpgate-results" / "results.json").is_file()
    assert SECRET not in run.artefacts()


async def test_entrypoint_runs_cli_verbs_and_hands_over_other_commands(tmp_path: Path) -> None:
    run = await action(tmp_path, {}, args=("--version",))
    assert run.code == 0
    assert run.stdout.startswith("mcpgate ")
    run = await action(tmp_path, {}, args=("sh", "-c", "echo handed-over"))
    assert (run.code, run.stdout) == (0, "handed-over\n")
    run = await action(tmp_path, {}, args=("no-such-command-xyz",))
    assert run.code == 127


class MonitorApi:
    """A stand-in for a monitor-status API (such as AliveMCP's): answers with the status it is told."""

    def __init__(self) -> None:
        self.status = "up"
        self.auth: list[str | None] = []
        self.app = web.Application()
        self.app.router.add_get("/v1/monitors/{id}/status", self.handle)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.auth.append(request.headers.get("Authorization"))
        return web.json_response({"id": request.match_info["id"], "status": self.status})

    async def __aenter__(self) -> MonitorApi:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1/monitors/m-42/status"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def test_post_deploy_smoke_and_monitor(peer: PeerFactory, tmp_path: Path) -> None:
    monitor_token = "mon-token-81b2c3d4"
    async with MonitorApi() as api:
        inputs = {
            "INPUT_URL": peer("stateful-json"),
            "INPUT_SMOKE-ONLY": "true",
            "INPUT_ENVIRONMENT": "production",
            "INPUT_MONITOR-URL": api.url,
            "INPUT_MONITOR-TOKEN": monitor_token,
            "INPUT_MONITOR-INTERVAL": "100ms",
            "INPUT_MONITOR-TIMEOUT": "2s",
        }
        run = await action(tmp_path, inputs)
        assert run.code == exitcodes.OK, run.stdout + run.stderr
        assert api.auth[-1] == f"Bearer {monitor_token}"
        assert run.outputs["monitor-status"] == "up"
        assert run.outputs["smoke-path"].endswith("smoke.json")
        assert "::group::mcpgate: smoke check" in run.stdout
        assert "smoke" in run.summary.lower()
        assert "monitor" in run.summary.lower()
        assert monitor_token not in run.artefacts()

        api.status = "down"
        run = await action(tmp_path, {**inputs, "INPUT_MONITOR-TIMEOUT": "500ms"})
        assert run.code == exitcodes.CHECK_FAILED
        assert run.outputs["monitor-status"] == "down"
        assert any(
            line.startswith("::error title=mcpgate%3A monitor check failed::") for line in run.stdout.splitlines()
        )


async def test_smoke_against_a_dead_endpoint_fails(tmp_path: Path) -> None:
    from tests.servers import free_port

    run = await action(tmp_path, {"INPUT_URL": f"http://127.0.0.1:{free_port()}/mcp", "INPUT_SMOKE-ONLY": "true"})
    assert run.code == exitcodes.CHECK_FAILED
    assert run.outputs["passed"] == "false"
    assert "connection refused" in run.stdout


async def test_a_cancelled_job_still_leaves_its_results(peer: PeerFactory, tmp_path: Path) -> None:
    """SIGTERM (a cancelled job) mid-run: exit 105 within seconds, outputs, summary and files written."""
    import signal

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("")
    summary.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "INPUT_URL": peer("stateful-json"),
            "INPUT_PROFILE": "smoke",
            "INPUT_DURATION": "60s",
            "INPUT_VUS": "2",
        }
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "entrypoint.py"),
        cwd=workspace,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(4)
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == exitcodes.INTERRUPTED, out.decode() + err.decode()
    outputs = parse_outputs(output.read_text())
    assert outputs["exit-code"] == "105"
    assert "INTERRUPTED" in summary.read_text()
    assert (workspace / "mcpgate-results" / "results.json").is_file()


async def test_shard_jobs_then_a_merge_job_gate_as_one_run(peer: PeerFactory, tmp_path: Path) -> None:
    """The sharded workflow: N jobs each run their shard from one start time, one job merges and gates."""
    from mcpgate.results.io import read
    from mcpgate.support.startat import iso

    start_at = iso(time.time() + 8)

    def shard_job(index: int) -> dict[str, str]:
        return {**base(peer("stateful-json")), "INPUT_SHARD": f"{index}/2", "INPUT_START-AT": start_at}

    for index in range(2):
        (tmp_path / f"job-{index}").mkdir()
    jobs = await asyncio.gather(*(action(tmp_path / f"job-{i}", shard_job(i)) for i in range(2)))
    merge_job = tmp_path / "merge"
    for index, job in enumerate(jobs):
        assert job.code == exitcodes.OK, job.stdout + job.stderr
        assert f"| shard | {index} of 2 (its part of every scenario), load from {start_at} |" in job.summary
        # As actions/download-artifact lays the artifacts out: one directory each.
        artifact = merge_job / "workspace" / "shards" / f"mcpgate-shard-{index}"
        artifact.mkdir(parents=True)
        shutil.copy(job.workspace / "out" / "results.json", artifact / "results.json")
    run = await action(merge_job, {"INPUT_MERGE": "shards/*/results.json", "INPUT_RESULTS-DIR": "merged"})
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    assert "::group::mcpgate: merge of 2 shards" in run.stdout
    assert run.outputs["passed"] == "true"
    assert run.outputs["results-path"] == str(run.workspace / "merged" / "results.json")
    assert float(run.outputs["p95-ms"]) > 0
    merged = read(run.workspace / "merged" / "results.json")
    shards = [read(job.workspace / "out" / "results.json") for job in jobs]
    assert merged.metric("iterations", "count") == sum(s.metric("iterations", "count") or 0 for s in shards)
    assert "| shards | 0, 1 of 2 merged" in run.summary
    assert merged.drift is not None  # judged (here: too short to judge) on the merged timeline, as the CLI does
    assert merged.drift.note
    assert (run.workspace / "merged" / "junit.xml").is_file()
    assert SECRET not in run.artefacts()
    for job in jobs:
        assert SECRET not in job.artefacts()

    # One artifact lost: the merge refuses to gate on half the load.
    shutil.rmtree(merge_job / "workspace" / "shards" / "mcpgate-shard-1")
    run = await action(merge_job, {"INPUT_MERGE": "shards/*/results.json", "INPUT_RESULTS-DIR": "merged"})
    assert run.code == exitcodes.INVALID_INPUT
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert "merge: shard 1 of 2 is missing (given: 0)" in errors[0].replace("%3A", ":").replace("%2C", ",")


@pytest.mark.parametrize("smoke_only", ["true", "false"])
async def test_paths_are_relative_to_the_workspace_for_load_and_smoke_alike(
    peer: PeerFactory, tmp_path: Path, smoke_only: str
) -> None:
    """As under docker run -w: the working directory is not the workspace, and the config is still found."""
    workspace = tmp_path / "workspace"
    (workspace / "ci").mkdir(parents=True)
    (workspace / "ci" / "mcpgate.yaml").write_text(f"target: {{url: '{peer('stateful-json')}'}}\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inputs = {"INPUT_CONFIG": "ci/mcpgate.yaml", "INPUT_SMOKE-ONLY": smoke_only, "INPUT_DURATION": "2s"}
    if smoke_only == "true":
        inputs.pop("INPUT_DURATION")
    run = await action(tmp_path, inputs, cwd=elsewhere)
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    written = "smoke.json" if smoke_only == "true" else "results.json"
    assert (workspace / "mcpgate-results" / written).is_file()


async def test_docker_run_with_the_drift_verb_judges_a_saved_run(tmp_path: Path) -> None:
    """docker run IMAGE drift results.json: the container's door knows every verb the CLI has."""
    saved = ROOT / "tests" / "data" / "results-passed.json"
    run = await action(tmp_path, {}, github=False, args=("drift", str(saved), "--format", "json"))
    assert run.code in (exitcodes.OK, exitcodes.THRESHOLDS_FAILED), run.stderr
    assert '"ok"' in run.stdout
