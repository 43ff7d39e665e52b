"""squid, the forward proxy many companies put between CI and staging: started by a test on
127.0.0.1 and a free port, with its own config, name table and users, stopped by PID.

squid drops to the ``proxy`` user, so its folder is opened to it. ``hosts`` is squid's own
name table: a test host name there resolves only through the proxy, never on this machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tests import servers


@dataclass
class Squid:
    port: int
    folder: Path

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The proxy's URL, with credentials when given."""
        auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    def log(self) -> str:
        """The access log: ``CONNECT host:port`` and ``POST http://host:port/...`` lines, with the user."""
        path = self.folder / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _config(port: int, folder: Path, users: bool) -> str:
    lines = [
        f"http_port 127.0.0.1:{port}",
        f"pid_filename {folder}/squid.pid",
        f"access_log stdio:{folder}/access.log",
        f"cache_log {folder}/cache.log",
        "cache_store_log none",
        f"coredump_dir {folder}",
        f"hosts_file {folder}/hosts",
        "cache deny all",
        "pinger_enable off",
        "shutdown_lifetime 0 seconds",
        "acl local src 127.0.0.0/8",
        "acl CONNECT method CONNECT",
    ]
    if users:
        lines += [
            f"auth_param basic program /usr/lib/squid/basic_ncsa_auth {folder}/passwd",
            "acl users proxy_auth REQUIRED",
            "http_access allow local users",
        ]
    else:
        lines.append("http_access allow local")
    lines.append("http_access deny all")
    return "\n".join(lines) + "\n"


def _password_line(user: str, password: str) -> str:
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", "-stdin"], input=password, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()
    return f"{user}:{hashed}\n"


@contextlib.contextmanager
def squid(*, hosts: Mapping[str, str] | None = None, users: Mapping[str, str] | None = None) -> Iterator[Squid]:
    """A running squid; ``hosts`` maps names to addresses for it alone; with ``users`` (name: password)
    it asks for Basic proxy credentials (407 without them)."""
    binary = shutil.which("squid") or ("/usr/sbin/squid" if os.path.exists("/usr/sbin/squid") else None)
    if binary is None:
        servers.missing_peer("squid (tests/peers/parts.sh)")
    folder = Path(tempfile.mkdtemp(prefix="mcpgate-squid-"))
    folder.chmod(0o777)
    port = servers.free_port()
    (folder / "hosts").write_text("".join(f"{address} {name}\n" for name, address in (hosts or {}).items()))
    (folder / "passwd").write_text("".join(_password_line(u, p) for u, p in (users or {}).items()))
    (folder / "squid.conf").write_text(_config(port, folder, bool(users)))
    for path in folder.iterdir():
        path.chmod(0o644)
    try:
        with servers.running([str(binary), "-N", "-f", str(folder / "squid.conf")], port):
            yield Squid(port, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
