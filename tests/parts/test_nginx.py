"""Over TLS with client certificates, through a real nginx (and a real squid's CONNECT tunnel):
a company CA given with ``--ca-file``, a client certificate and key, every door.

nginx requires a certificate from the clients' CA (``ssl_verify_client on``) and streams the
MCP server's SSE responses through unbuffered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from mcpgate.support import exitcodes
from tests import servers
from tests.action.test_action import SECRET, action, base
from tests.parts.nginx import Nginx, nginx
from tests.parts.squid import Squid, squid
from tests.test_cli_probe import mcpgate

NAME = "mcp.staging.test"  # known to squid's name table only
USER, PASSWORD = "gate", "tunnel-pa55-41c7"
TOOLS = 'get_record: 1 {"id": "rec_{{ randint(1, 9) }}"}'


@dataclass
class Files:
    folder: Path
    ca: Path  # the company CA that issued nginx's certificate
    cert: Path  # the client certificate
    key: Path
    both: Path  # certificate and key in one file

    def flags(self, *, combined: bool = False) -> list[str]:
        if combined:
            return ["--ca-file", str(self.ca), "--client-cert", str(self.both)]
        return ["--ca-file", str(self.ca), "--client-cert", str(self.cert), "--client-key", str(self.key)]


@pytest.fixture(scope="module")
def cas() -> tuple[trustme.CA, trustme.CA]:
    return trustme.CA(organization_name="Company CA"), trustme.CA(organization_name="Clients CA")


@pytest.fixture(scope="module")
def files(cas: tuple[trustme.CA, trustme.CA], tmp_path_factory: pytest.TempPathFactory) -> Files:
    server_ca, client_ca = cas
    folder = tmp_path_factory.mktemp("tls")
    leaf = client_ca.issue_cert("gate-ci@example.com")
    made = Files(folder, folder / "company-ca.pem", folder / "client.pem", folder / "client.key", folder / "both.pem")
    server_ca.cert_pem.write_to_path(str(made.ca))
    leaf.cert_chain_pems[0].write_to_path(str(made.cert))
    leaf.private_key_pem.write_to_path(str(made.key))
    made.both.write_bytes(made.cert.read_bytes() + made.key.read_bytes())
    return made


@pytest.fixture(scope="module")
def front(cas: tuple[trustme.CA, trustme.CA]) -> Iterator[Nginx]:
    with (
        servers.serving(servers.example_cmd) as mcp,  # stateful, SSE responses
        nginx(int(mcp.base.rsplit(":", 1)[1]), cas[0], clients=cas[1]) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def proxy() -> Iterator[Squid]:
    with squid(hosts={NAME: "127.0.0.1"}, users={USER: PASSWORD}) as running:
        yield running


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


async def _probe(url: str, *flags: str) -> tuple[int, dict[str, object], str]:
    code, out, err = await mcpgate("probe", url, "--json", *flags, env=_env())
    return code, json.loads(out) if out.strip().startswith("{") else {}, out + err


async def test_probe_with_a_client_certificate(front: Nginx, files: Files) -> None:
    code, report, text = await _probe(front.url(), *files.flags())
    assert code == exitcodes.OK, text
    assert report["transport"] == "streamable-http"


async def test_run_over_mtls_has_no_errors_with_the_key_in_the_certificates_file(
    front: Nginx, files: Files, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    args = ["run", "--url", front.url(), *files.flags(combined=True), "--duration", "2s", "--vus", "2"]
    code, stdout, stderr = await mcpgate(*args, "--tools", TOOLS, "--out", str(out), "--no-progress", env=_env())
    assert code == exitcodes.OK, stdout + stderr
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["http_req_failed"]["values"]["rate"] == 0
    assert metrics["mcp_tool_errors"]["values"]["rate"] == 0
    assert metrics["iterations"]["values"]["count"] > 0


async def test_without_the_client_certificate_nginx_refuses_and_the_reason_says_so(front: Nginx, files: Files) -> None:
    code, report, _ = await _probe(front.url(), "--ca-file", str(files.ca))
    assert code != exitcodes.OK
    steps = report["steps"]
    assert isinstance(steps, list)
    assert steps[-1]["outcome"] == "http_error"
    assert steps[-1]["http_status"] == 400
    assert steps[-1]["reason"] == "HTML page '400 No required SSL certificate was sent'"


async def test_without_the_company_ca_the_certificate_is_rejected(front: Nginx, files: Files) -> None:
    code, report, _ = await _probe(front.url(), "--client-cert", str(files.both))
    assert code != exitcodes.OK
    steps = report["steps"]
    assert isinstance(steps, list)
    assert steps[-1]["outcome"] == "connection_error"
    assert steps[-1]["reason"] == ("TLS certificate rejected: unable to get local issuer certificate"), steps[-1][
        "reason"
    ]


async def test_run_through_squids_connect_tunnel_over_mtls(
    front: Nginx, proxy: Squid, files: Files, tmp_path: Path
) -> None:
    out, markdown = tmp_path / "results.json", tmp_path / "summary.md"
    url = front.url(host=NAME)  # resolvable by squid only
    args = ["run", "--url", url, "--proxy", proxy.url(USER, PASSWORD), *files.flags(), "--duration", "2s"]
    code, stdout, stderr = await mcpgate(
        *args,
        "--vus",
        "2",
        "--tools",
        TOOLS,
        "--out",
        str(out),
        "--markdown",
        str(markdown),
        "--no-progress",
        env=_env(),
    )
    assert code == exitcodes.OK, stdout + stderr
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["http_req_failed"]["values"]["rate"] == 0
    assert f"CONNECT {NAME}:{front.port} " in proxy.log()
    for text in (stdout, stderr, out.read_text(), markdown.read_text()):
        assert PASSWORD not in text


async def test_the_action_through_squid_over_mtls(front: Nginx, proxy: Squid, files: Files, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "tls").mkdir(parents=True)
    for path in (files.ca, files.cert, files.key):
        (workspace / "tls" / path.name).write_bytes(path.read_bytes())
    inputs = {
        **base(front.url(host=NAME)),
        "INPUT_TOOLS": TOOLS,
        "INPUT_PROXY": proxy.url(USER, PASSWORD),
        "INPUT_CA-FILE": f"tls/{files.ca.name}",
        "INPUT_CLIENT-CERT": f"tls/{files.cert.name}",
        "INPUT_CLIENT-KEY": f"tls/{files.key.name}",
    }
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.OK, run.stdout + run.stderr
    assert float(run.outputs["error-rate"]) == 0
    assert f"CONNECT {NAME}:{front.port} " in proxy.log()
    assert PASSWORD not in run.artefacts()
    assert SECRET not in run.artefacts()


async def test_smoke_reads_the_certificate_with_the_client_certificate(front: Nginx, files: Files) -> None:
    code, out, err = await mcpgate(
        "smoke", front.url(), *files.flags(), "--sessions", "1", "--min-cert-days", "1", env=_env()
    )
    assert code == exitcodes.OK, out + err
    assert "O=Company CA (minimum 1 day) ✓" in out, out


async def test_smoke_reads_the_certificate_through_the_proxys_tunnel(front: Nginx, proxy: Squid, files: Files) -> None:
    before = proxy.log().count(f"CONNECT {NAME}:{front.port} ")
    url = front.url(host=NAME)
    flags = ["--proxy", proxy.url(USER, PASSWORD), *files.flags(), "--sessions", "1", "--min-cert-days", "1"]
    code, out, err = await mcpgate("smoke", url, *flags, env=_env())
    assert code == exitcodes.OK, out + err
    assert f"certificate for {NAME}:{front.port} expires" in out
    assert proxy.log().count(f"CONNECT {NAME}:{front.port} ") > before
    assert PASSWORD not in out + err
