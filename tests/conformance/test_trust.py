"""--ca-file adds to the system's roots, never replaces them: one pool reaches a server signed by a
"system" CA (SSL_CERT_FILE) and one signed by the company CA (ca_file) alike."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme

from mcpgate.protocol.wire.errors import TlsError
from mcpgate.protocol.wire.pool import Pool
from mcpgate.support.tls import TlsSettings, tls_context

MakeCas = Callable[[], tuple[trustme.CA, trustme.CA, str]]
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@asynccontextmanager
async def https_server(ca: trustme.CA) -> AsyncIterator[str]:
    """An https server on 127.0.0.1 whose certificate ``ca`` signed; it answers every request with {}."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length")), 0
            )
            await reader.readexactly(length)
            writer.write(ANSWER)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"https://127.0.0.1:{port}/mcp"


@pytest.fixture
def cas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeCas:
    def make() -> tuple[trustme.CA, trustme.CA, str]:
        system, company = trustme.CA(), trustme.CA()
        system.cert_pem.write_to_path(str(tmp_path / "system.pem"))
        company.cert_pem.write_to_path(str(tmp_path / "company.pem"))
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "system.pem"))  # the roots OpenSSL loads by default
        return system, company, str(tmp_path / "company.pem")

    return make


async def _status(pool: Pool, url: str) -> int:
    async with pool.post(url, data=b"{}", headers={"Content-Type": "application/json"}) as response:
        await response.read()
        return response.status


async def test_a_ca_file_is_trusted_beside_the_system_roots(
    cas: MakeCas,
) -> None:
    system, company, company_file = cas()
    pool = Pool(tls=TlsSettings(ca_file=company_file))
    async with https_server(system) as public, https_server(company) as private, pool:
        assert await _status(pool, private) == 200
        assert await _status(pool, public) == 200  # the system's roots still count


async def test_without_the_ca_file_the_company_server_is_refused(
    cas: MakeCas,
) -> None:
    _, company, _ = cas()
    async with https_server(company) as private, Pool(tls=TlsSettings()) as pool:
        with pytest.raises(TlsError, match="certificate"):
            await _status(pool, private)


def test_the_context_holds_the_system_roots_and_the_ca_file(
    cas: MakeCas,
) -> None:
    _, _, company_file = cas()
    roots = tls_context(TlsSettings()).cert_store_stats()["x509_ca"]
    assert tls_context(TlsSettings(ca_file=company_file)).cert_store_stats()["x509_ca"] == roots + 1
