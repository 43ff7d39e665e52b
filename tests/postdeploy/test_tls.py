"""TLS expiry against local HTTPS servers with certificates from a test CA (trustme)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from mcpgate.app.postdeploy.smoke import render_smoke_markdown, render_smoke_text, run_smoke, smoke_dict
from mcpgate.app.postdeploy.tls import cert_info, cert_problem, read_certificate
from mcpgate.doors import cli
from mcpgate.doors.postdeploy import register
from mcpgate.protocol.http import HttpSettings
from mcpgate.protocol.negotiate import ConnectSpec
from mcpgate.support import exitcodes
from mcpgate.support.errors import UsageError
from mcpgate.support.redact import Redactor
from mcpgate.support.tls import TlsSettings
from tests.faultserver import FaultServer
from tests.servers import free_port

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def leaf(ca: trustme.CA, left: timedelta) -> trustme.LeafCert:
    """A certificate for 127.0.0.1 that expires ``left`` from now (an hour more, so whole days read exactly)."""
    now = datetime.now(UTC)
    return ca.issue_cert(
        "127.0.0.1", common_name="mcpgate-test", not_before=now - 10 * DAY, not_after=now + left + HOUR
    )


@contextlib.asynccontextmanager
async def https_server(cert: trustme.LeafCert) -> AsyncIterator[str]:
    """The fault server's well-behaved MCP routes, over TLS with ``cert``: yields https://127.0.0.1:PORT."""
    server = FaultServer()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    runner = web.AppRunner(server.app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        server.stopping.set()
        await runner.cleanup()


# -- cert_info ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("left", "days"), [(5 * DAY, 5), (365 * DAY, 365)])
async def test_days_left_verified_and_not(ca: trustme.CA, ca_file: str, left: timedelta, days: int) -> None:
    async with https_server(leaf(ca, left)) as base:
        verified = await cert_info(f"{base}/ok/mcp", timeout=5, tls=TlsSettings(ca_file=ca_file))
        insecure = await cert_info(f"{base}/ok/mcp", timeout=5, tls=TlsSettings(verify=False))
    assert verified is not None
    assert insecure is not None
    assert verified.reason is None, verified.reason
    assert verified.days_left == days
    assert verified.verified is True
    assert verified.subject.startswith("CN=mcpgate-test")
    assert "O=trustme" in verified.issuer
    # Without verification the ssl module keeps no parsed certificate: the DER path gives the same answer.
    assert (insecure.days_left, insecure.not_after, insecure.subject, insecure.issuer) == (
        verified.days_left,
        verified.not_after,
        verified.subject,
        verified.issuer,
    )
    assert insecure.verified is False


async def test_our_der_reading_agrees_with_the_ssl_module(ca: trustme.CA, ca_file: str) -> None:
    cert = leaf(ca, 30 * DAY)
    async with https_server(cert) as base:
        port = int(base.rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=ca_file)
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
        ssl_object = writer.get_extra_info("ssl_object")
        parsed, der = ssl_object.getpeercert(), ssl_object.getpeercert(binary_form=True)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    not_after, subject, _ = read_certificate(der)
    assert not_after.timestamp() == ssl.cert_time_to_seconds(parsed["notAfter"])
    common_names = [value for rdn in parsed["subject"] for key, value in rdn if key == "commonName"]
    assert f"CN={common_names[0]}" in subject


def test_generalized_time_after_2049(ca: trustme.CA) -> None:
    # RFC 5280: dates from 2050 on are GeneralizedTime, before that UTCTime.
    cert = ca.issue_cert("127.0.0.1", not_after=datetime(2061, 3, 4, 5, 6, 7, tzinfo=UTC))
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    assert read_certificate(der)[0] == datetime(2061, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01", b"\x04\x00", b"\x30\x84\xff\xff\xff\xff"])
def test_malformed_der_is_a_value_error(der: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any message: the caller reports it as a reason
        read_certificate(der)


async def test_expired_certificate(ca: trustme.CA, ca_file: str) -> None:
    now = datetime.now(UTC)
    cert = ca.issue_cert("127.0.0.1", not_before=now - 30 * DAY, not_after=now - 2 * DAY - HOUR)
    async with https_server(cert) as base:
        insecure = await cert_info(base, timeout=5, tls=TlsSettings(verify=False))
        verified = await cert_info(base, timeout=5, tls=TlsSettings(ca_file=ca_file))
    assert insecure is not None
    assert verified is not None
    assert insecure.days_left == -3
    assert (
        cert_problem(insecure, 0)
        == f"certificate for {insecure.where} expired on {insecure.not_after} (minimum 0 days left)"
    )
    assert verified.days_left is None
    assert verified.reason == "TLS certificate rejected: certificate has expired"


async def test_untrusted_ca_is_a_reason_not_an_exception(ca: trustme.CA) -> None:
    async with https_server(leaf(ca, 30 * DAY)) as base:
        info = await cert_info(base, timeout=5)
    assert info is not None
    assert info.days_left is None
    assert info.reason is not None
    assert info.reason.startswith("TLS certificate rejected: ")
    assert cert_problem(info, 7) == f"certificate for 127.0.0.1:{info.port} could not be read: {info.reason}"
    assert cert_problem(info, None) is None


async def test_plain_http_has_no_certificate() -> None:
    assert await cert_info("http://127.0.0.1:1/mcp", timeout=1) is None


async def test_refused_port() -> None:
    port = free_port()
    info = await cert_info(f"https://127.0.0.1:{port}/mcp", timeout=2)
    assert info is not None
    assert info.reason is not None
    assert "connection refused" in info.reason


async def test_silent_server_is_bounded() -> None:
    """A TCP server that never answers the TLS handshake: the timeout ends it."""
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        t0 = time.monotonic()
        info = await cert_info(f"https://127.0.0.1:{port}/", timeout=0.2)
        took = time.monotonic() - t0
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert info is not None
    assert info.reason == "TLS connect timed out after 0.2s"
    assert took < 2


# -- the gate in smoke -------------------------------------------------------------------------


def insecure_spec(url: str) -> ConnectSpec:
    return ConnectSpec(url, settings=HttpSettings(timeout=5, tls=TlsSettings(verify=False)))


async def test_a_private_ca_is_trusted_with_ca_file(ca: trustme.CA, ca_file: str) -> None:
    async with https_server(leaf(ca, 30 * DAY)) as base:
        trusting = ConnectSpec(f"{base}/ok/mcp", settings=HttpSettings(timeout=5, tls=TlsSettings(ca_file=ca_file)))
        report = await run_smoke(trusting, sessions=1, min_cert_days=7)
        assert report.ok, report.reason
        assert report.cert is not None
        assert report.cert.verified
        untrusting = ConnectSpec(f"{base}/ok/mcp", settings=HttpSettings(timeout=5))
        report = await run_smoke(untrusting, sessions=1)
    assert not report.ok
    assert report.reason is not None
    assert "TLS certificate rejected" in report.reason


@pytest.mark.parametrize(("minimum", "ok"), [(30, False), (5, True), (3, True)])
async def test_min_cert_days_gate(ca: trustme.CA, minimum: int, ok: bool) -> None:
    async with https_server(leaf(ca, 5 * DAY)) as base:
        report = await run_smoke(insecure_spec(f"{base}/ok/mcp"), sessions=2, interval=0.01, min_cert_days=minimum)
    assert report.cert is not None
    assert report.cert.days_left == 5
    assert all(s.ok for s in report.sessions), report.reason
    assert report.ok is ok
    port = report.cert.port
    if not ok:
        assert report.reason == f"certificate for 127.0.0.1:{port} expires in 5 days (minimum {minimum})"
        assert render_smoke_text(report, Redactor()).endswith(f"FAILED: {report.reason}")
    markdown = render_smoke_markdown(report, Redactor())
    assert "5 days left" in markdown
    assert f"(minimum {minimum} days)" in markdown
    data = smoke_dict(report, Redactor())
    assert data["cert"]["days_left"] == 5
    assert data["min_cert_days"] == minimum


async def test_year_long_certificate_passes(ca: trustme.CA) -> None:
    async with https_server(leaf(ca, 365 * DAY)) as base:
        report = await run_smoke(insecure_spec(f"{base}/ok/mcp"), sessions=1, min_cert_days=30)
    assert report.ok, report.reason
    assert render_smoke_text(report, Redactor()).splitlines()[-1].endswith("certificate 365 days left")


def _parser() -> argparse.ArgumentParser:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str):  # type: ignore[no-untyped-def]
            raise UsageError("", message)

    parser = Parser(prog="mcpgate")
    register(parser.add_subparsers(dest="verb", parser_class=Parser), cli.add_target_options, cli.connect_spec)
    return parser


async def test_cli_min_cert_days(ca: trustme.CA, capsys: pytest.CaptureFixture[str]) -> None:
    async with https_server(leaf(ca, 5 * DAY)) as base:
        argv = ["smoke", f"{base}/ok/mcp", "--insecure", "--sessions", "1", "--min-cert-days", "30"]
        args = _parser().parse_args(argv)
        code = await asyncio.to_thread(args.handler, args)
    assert code == exitcodes.CHECK_FAILED
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAILED: certificate for 127.0.0.1:")


def test_cli_min_cert_days_needs_https() -> None:
    args = _parser().parse_args(["smoke", "http://127.0.0.1:1/mcp", "--min-cert-days", "30"])
    with pytest.raises(UsageError, match="--min-cert-days: needs an https:// URL"):
        args.handler(args)


async def test_unreadable_ca_file_is_a_reason(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    info = await cert_info("https://127.0.0.1:1/", timeout=1, tls=TlsSettings(ca_file=str(missing)))
    assert info is not None
    assert info.reason is not None
    assert info.reason.startswith(f"cannot load the TLS files ({missing}): ")
