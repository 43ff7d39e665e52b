"""OAuth for the tests: a real authorization server (oauth2-mock-server, made strict about clients)
in front of a protected MCP server on the official SDK, each on 127.0.0.1 and a free port, stopped by PID.

``tests/peers/oauth_server.mjs`` issues JWTs that live ``life`` seconds while it announces
``ttl`` as ``expires_in``, refuses unknown clients and wrong secrets (``invalid_client``) and
unknown refresh tokens (``invalid_grant``), and logs every token request it answers.
``tests/peers/protected_server.py`` checks each token against the server's JWKS and its expiry.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import PEERS, ROOT, Server, free_port, missing_peer, running

MOCK_SERVER = PEERS / "node" / "node_modules" / "oauth2-mock-server" / "dist" / "index.mjs"
CLIENT_ID = "load-client"
CLIENT_SECRET = "s3cret-load-client-9f2e"
REFRESH_TOKEN = "rt-issued-before-7c1d4a"


@dataclass
class AuthServer:
    server: Server
    log: Path

    @property
    def issuer(self) -> str:
        return self.server.base

    def requests(self) -> list[dict[str, object]]:
        """Every token request the server answered, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@dataclass
class Protected:
    auth: AuthServer
    mcp: Server
    log: Path

    transport: str = "streamable-http"

    @property
    def url(self) -> str:
        return self.mcp.url("/sse" if self.transport == "sse" else "/mcp")

    def accepted(self) -> list[dict[str, object]]:
        """Every token the MCP server accepted: the client each was issued to."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def authorization_server(
    *, ttl: int = 3600, life: int | None = None, clients: dict[str, str] | None = None, refresh: tuple[str, ...] = ()
) -> Iterator[AuthServer]:
    if not MOCK_SERVER.exists() or shutil.which("node") is None:
        missing_peer(f"oauth2-mock-server at {MOCK_SERVER}")
    known: dict[str, object] = dict(clients if clients is not None else {CLIENT_ID: CLIENT_SECRET})
    known.update({f"refresh:{token}": 1 for token in refresh})
    folder = Path(tempfile.mkdtemp(prefix="mcpgate-oauth-"))
    log = folder / "tokens.jsonl"
    port = free_port()
    script = ROOT / "tests" / "peers" / "oauth_server.mjs"
    cmd = ["node", str(script), str(port), str(ttl), json.dumps(known), str(log), str(life or ttl)]
    try:
        with running(cmd, port, env={"OAUTH2_MOCK_SERVER": MOCK_SERVER.as_uri()}) as server:
            yield AuthServer(server, log)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def protected_server(auth: AuthServer, transport: str = "streamable-http") -> Iterator[Protected]:
    folder = Path(tempfile.mkdtemp(prefix="mcpgate-protected-"))
    log = folder / "accepted.jsonl"
    port = free_port()
    script = ROOT / "tests" / "peers" / "protected_server.py"
    cmd = [sys.executable, str(script), "--port", str(port), "--issuer", auth.issuer, "--log", str(log)]
    try:
        with running([*cmd, "--transport", transport], port) as server:
            yield Protected(auth, server, log, transport)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def protected() -> Iterator[Protected]:
    """A protected MCP server and its authorization server, with one known client."""
    with authorization_server() as auth, protected_server(auth) as mcp:
        yield mcp
