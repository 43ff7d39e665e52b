"""No secret in any artefact: console, summary, results, JUnit, error lines.

The run carries a bearer token, a credential header, and credentials in the URL (a password and
a token query parameter), against a route whose error pages echo the Authorization header back,
so a leak could come from mcpgate or from the server; every byte written is searched.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest

from mcpgate.support import exitcodes
from tests.conftest import Spawn
from tests.faultserver import FaultServer
from tests.run.helpers import config_file

TOKEN = "tok-51f0c2aa9e"
HEADER_SECRET = "hdr-7d3e91b2c4"
URL_PASSWORD = "pw-0e8d4c22"
URL_TOKEN = "qt-94ab61e0"


@pytest.mark.parametrize("auth", ["url-credentials", "bearer-token"])
async def test_no_secret_in_any_artefact(faults: FaultServer, spawn: Spawn, tmp_path: Path, auth: str) -> None:
    url = f"{faults.url('echo-token')}?api_key={URL_TOKEN}&tenant=acme"
    target: dict[str, object] = {
        "transport": "streamable-http",
        "protocol_version": "2025-11-25",
        "headers": {"X-Api-Key": HEADER_SECRET},
    }
    if auth == "url-credentials":  # sent as Basic auth, which the server echoes back
        target["url"] = url.replace("http://", f"http://loader:{URL_PASSWORD}@")
    else:
        target["url"] = url
        target["bearer_token"] = "${MCP_TOKEN}"
    config = {
        "target": target,
        "flow": {"tools": [{"name": "echo"}], "think_time": "50ms"},
        "scenarios": {"s": {"executor": "constant-vus", "vus": 1, "duration": "1s"}},
        "thresholds": {"mcp_tool_errors": ["rate<0.01"]},
    }
    path = config_file(tmp_path / "c.yaml", config)
    files = {name: tmp_path / name for name in ("results.json", "summary.md", "junit.xml")}
    outputs = ("--out", str(files["results.json"]), "--markdown", str(files["summary.md"]))
    proc = await spawn(
        "run", "-c", str(path), *outputs, "--junit", str(files["junit.xml"]), env={**os.environ, "MCP_TOKEN": TOKEN}
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == exitcodes.THRESHOLDS_FAILED, stdout.decode()  # every call got the echoing 500
    # The server really got the credentials: the test would prove nothing otherwise.
    sent = faults.headers["echo-token"][-1]
    basic = "Basic " + base64.b64encode(f"loader:{URL_PASSWORD}".encode()).decode()
    assert sent["Authorization"] == (basic if auth == "url-credentials" else f"Bearer {TOKEN}")
    assert sent["X-Api-Key"] == HEADER_SECRET
    secrets = [TOKEN, HEADER_SECRET, URL_PASSWORD, URL_TOKEN, basic.split()[1]]
    artefacts = {"stdout": stdout.decode(), "stderr": stderr.decode()}
    artefacts.update({name: p.read_text() for name, p in files.items()})
    for name, text in artefacts.items():
        for secret in secrets:
            assert secret not in text, f"{secret} leaked into {name}"
    results = json.loads(artefacts["results.json"])
    assert "api_key=***" in results["target"]["url"]
    if auth == "url-credentials":
        assert results["target"]["url"].startswith("http://loader:***@127.0.0.1")
    samples = [s["reason"] for e in results["errors"] for s in e["samples"]]
    assert any("upstream rejected" in reason and "***" in reason for reason in samples)  # echoed, masked


async def test_a_bad_config_never_echoes_its_secret(spawn: Spawn, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"target:\n  url: http://127.0.0.1:1/mcp\n  bearer_token: [{TOKEN}]\n")
    proc = await spawn("validate", str(path))
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == exitcodes.INVALID_INPUT
    assert TOKEN not in stdout.decode() + stderr.decode()
    assert "target.bearer_token" in stderr.decode()


async def test_url_credentials_and_a_bearer_token_cannot_both_be_sent(spawn: Spawn, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"target:\n  url: http://u:{URL_PASSWORD}@127.0.0.1:1/mcp\n  bearer_token: {TOKEN}\n")
    proc = await spawn("validate", str(path))
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == exitcodes.INVALID_INPUT
    message = stderr.decode()
    assert message.startswith(f"mcpgate: error: {path}:2: target.url: has credentials (sent as Basic auth)")
    assert URL_PASSWORD not in message
    assert TOKEN not in message
