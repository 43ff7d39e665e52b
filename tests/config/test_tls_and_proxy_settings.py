"""The target's TLS files and proxy, checked once at plan time: each problem one line naming its
field, a proxy's credentials a secret from then on, and no traceback through any door."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from mcpgate.config.models import TargetConfig
from mcpgate.plan.connect import connect_spec
from mcpgate.support import exitcodes
from mcpgate.support.errors import UsageError
from mcpgate.support.tls import TlsSettings
from tests.action.test_action import action
from tests.test_cli_probe import mcpgate

URL = "https://127.0.0.1:1/mcp"


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pem")
    ca = trustme.CA()
    one, other = ca.issue_cert("one@example.com"), ca.issue_cert("other@example.com")
    paths = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key", "other_key", "both", "junk", "encrypted")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    one.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    one.private_key_pem.write_to_path(str(paths["key"]))
    other.private_key_pem.write_to_path(str(paths["other_key"]))
    paths["both"].write_bytes(paths["cert"].read_bytes() + paths["key"].read_bytes())
    paths["junk"].write_text("not a certificate\n")
    paths["encrypted"].write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")
    return paths


def _error(**target: object) -> tuple[str, str]:
    with pytest.raises(UsageError) as caught:
        connect_spec(TargetConfig.model_validate({"url": URL, **target}), environ={})
    return caught.value.field, caught.value.message


def test_good_files_become_the_tls_settings(pem: dict[str, Path]) -> None:
    target = {"url": URL, "ca_file": str(pem["ca"]), "client_cert": str(pem["cert"]), "client_key": str(pem["key"])}
    spec, _ = connect_spec(TargetConfig.model_validate(target), environ={})
    assert spec.settings.tls == TlsSettings(True, str(pem["ca"]), str(pem["cert"]), str(pem["key"]))
    spec, _ = connect_spec(TargetConfig.model_validate({"url": URL, "client_cert": str(pem["both"])}), environ={})
    assert spec.settings.tls.client_key is None


def test_each_bad_file_is_one_line_naming_its_field(pem: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    cert, key = str(pem["cert"]), str(pem["key"])
    cases = [
        ({"ca_file": str(missing)}, ("target.ca_file", f"{missing}: no such file or directory")),
        ({"ca_file": str(pem["junk"])}, ("target.ca_file", f"{pem['junk']}: not a PEM certificate bundle")),
        ({"client_cert": str(missing)}, ("target.client_cert", f"{missing}: no such file or directory")),
        ({"client_cert": str(pem["junk"])}, ("target.client_cert", f"{pem['junk']}: not a PEM certificate")),
        (
            {"client_cert": cert},
            ("target.client_cert", f"{cert}: holds no private key; give target.client_key"),
        ),
        (
            {"client_cert": cert, "client_key": str(missing)},
            ("target.client_key", f"{missing}: no such file or directory"),
        ),
        (
            {"client_cert": cert, "client_key": str(pem["junk"])},
            ("target.client_key", f"{pem['junk']}: not a PEM private key"),
        ),
        (
            {"client_cert": cert, "client_key": str(pem["other_key"])},
            ("target.client_key", f"{pem['other_key']}: the key does not match the certificate in {cert}"),
        ),
        ({"client_key": key}, ("target.client_key", "is set without target.client_cert")),
    ]
    for target, expected in cases:
        assert _error(**target) == expected


def test_an_encrypted_key_is_refused_without_asking_for_a_password(pem: dict[str, Path]) -> None:
    field, message = _error(client_cert=str(pem["cert"]), client_key=str(pem["encrypted"]))
    assert field == "target.client_key"
    assert message.startswith(str(pem["encrypted"]) + ": ")


def test_proxy_settings_and_their_errors() -> None:
    target = TargetConfig.model_validate({"url": URL, "proxy": "http://u:s3cret-pw@proxy.corp:3128"})
    spec, redact = connect_spec(target, environ={"HTTPS_PROXY": "http://env:1"})
    assert spec.settings.proxy is not None
    assert spec.settings.proxy.https is not None
    assert spec.settings.proxy.https.where == "proxy.corp:3128"
    assert (
        redact("proxy http://u:s3cret-pw@proxy.corp:3128 said dTpzM2NyZXQtcHc=")
        == "proxy http://u:***@proxy.corp:3128 said ***"
    )
    assert _error(proxy="socks5://proxy:1080") == ("target.proxy", "only http:// proxies are supported, not socks5://")
    target = TargetConfig.model_validate({"url": URL})
    with pytest.raises(UsageError) as caught:
        connect_spec(target, environ={"https_proxy": "socks5://u:env-secret@proxy:1080"})
    assert (caught.value.field, caught.value.message) == (
        "HTTPS_PROXY",
        "only http:// proxies are supported, not socks5://; set target.proxy, or target.no_proxy '*' to go direct",
    )
    spec, redact = connect_spec(
        TargetConfig.model_validate({"url": URL, "no_proxy": "*"}), environ={"HTTP_PROXY": "http://u:env-pass@p:1"}
    )
    assert spec.settings.proxy is None
    assert "env-pass" in redact.secrets  # not used, still never shown


async def test_the_cli_says_it_in_one_line(pem: dict[str, Path]) -> None:
    key, cert = pem["other_key"], pem["cert"]
    code, _, err = await mcpgate("probe", URL, "--client-cert", str(cert), "--client-key", str(key))
    assert code == exitcodes.INVALID_INPUT
    said = f"target.client_key: {key}: the key does not match the certificate in {cert}"
    assert err.strip().splitlines() == [f"mcpgate: error: {said}"]


async def test_the_action_says_it_in_one_line_naming_the_field(pem: dict[str, Path], tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "client.pem").write_bytes(pem["junk"].read_bytes())
    inputs = {"INPUT_URL": URL, "INPUT_CLIENT-CERT": "client.pem", "INPUT_PROXY": "http://u:act-secret-9@p:3128"}
    run = await action(tmp_path, inputs)
    assert run.code == exitcodes.INVALID_INPUT
    assert f"target.client_cert: {workspace / 'client.pem'}: not a PEM certificate" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "::add-mask::act-secret-9" in run.stdout.splitlines()  # masked before anything is printed
    assert "act-secret-9" not in run.artefacts()
