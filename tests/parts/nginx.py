"""nginx terminating TLS in front of an MCP server, as staging often has it: a certificate from
a test CA, optionally requiring client certificates (mTLS), streaming SSE through unbuffered.

Started by a test on 127.0.0.1 and a free port with its own config and folder, stopped by PID.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests import servers


@dataclass
class Nginx:
    port: int
    folder: Path

    def url(self, path: str = "/mcp", host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    def log(self) -> str:
        path = self.folder / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _config(port: int, upstream: int, folder: Path, mtls: bool) -> str:
    temp = " ".join(
        f"{kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    client = f"ssl_client_certificate {folder}/clients.pem; ssl_verify_client on;" if mtls else ""
    return f"""
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 512; }}
http {{
  access_log {folder}/access.log;
  {temp}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {folder}/server.pem;
    ssl_certificate_key {folder}/server.key;
    {client}
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:{upstream};  # the SDK's DNS-rebinding guard wants its own name
      proxy_buffering off;
      proxy_read_timeout 60s;
    }}
  }}
}}
"""


@contextlib.contextmanager
def nginx(upstream: int, server_ca: trustme.CA, *, clients: trustme.CA | None = None) -> Iterator[Nginx]:
    """nginx on a free port, its certificate (for ``localhost``, 127.0.0.1 and ``mcp.staging.test``)
    from ``server_ca``, forwarding to ``upstream``; with ``clients`` it requires a client certificate
    that CA issued."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        servers.missing_peer("nginx (tests/peers/parts.sh)")
    folder = Path(tempfile.mkdtemp(prefix="mcpgate-nginx-"))
    folder.chmod(0o777)  # its workers run as nobody
    port = servers.free_port()
    leaf = server_ca.issue_cert("localhost", "127.0.0.1", "mcp.staging.test")
    leaf.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    for blob in leaf.cert_chain_pems[1:]:
        blob.write_to_path(str(folder / "server.pem"), append=True)
    leaf.private_key_pem.write_to_path(str(folder / "server.key"))
    if clients is not None:
        clients.cert_pem.write_to_path(str(folder / "clients.pem"))
    (folder / "nginx.conf").write_text(_config(port, upstream, folder, clients is not None))
    try:
        command = [binary, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")]
        with servers.running(command, port):
            yield Nginx(port, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
