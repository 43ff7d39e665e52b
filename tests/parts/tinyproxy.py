"""tinyproxy (Debian's) on 127.0.0.1 and a free port: a real forward proxy, started by the test, stopped by PID.

``LogLevel Connect`` makes it write one ``Request (file descriptor N): GET http://... HTTP/1.1``
line per request it forwards (``CONNECT host:port`` for a tunnel), which is how a test sees
that a request went through it. ``BasicAuth`` makes it answer 407 to a request without the
right ``Proxy-Authorization``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests import servers

_REQUEST = re.compile(r"Request \(file descriptor \d+\): (\S+ \S+)")


@dataclass
class Tinyproxy:
    port: int
    log: Path
    login: tuple[str, str] | None

    @property
    def address(self) -> str:
        """The proxy's URL without credentials: what a report may show."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, login: tuple[str, str] | None = None) -> str:
        """The proxy's URL with a login (its own unless another is given), as HTTP_PROXY holds it."""
        user, password = login or self.login or ("", "")
        return f"http://{user}:{password}@127.0.0.1:{self.port}" if user else self.address

    def requests(self, settle: float = 0.3) -> list[str]:
        """``METHOD target`` of every request the proxy has read so far (its log is written as it goes)."""
        deadline = time.monotonic() + settle
        while True:
            seen = _REQUEST.findall(self.log.read_text(errors="replace")) if self.log.exists() else []
            if seen or time.monotonic() >= deadline:
                return seen
            time.sleep(0.02)


def config(port: int, log: Path, login: tuple[str, str] | None, extra: Sequence[str] = ()) -> str:
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 10",
        f'LogFile "{log}"',
        "LogLevel Connect",
        "MaxClients 20",
        "Allow 127.0.0.1",
        "DisableViaHeader No",
    ]
    if login is not None:
        lines.append(f"BasicAuth {login[0]} {login[1]}")
    lines += extra
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def running_tinyproxy(login: tuple[str, str] | None = None, extra: Sequence[str] = ()) -> Iterator[Tinyproxy]:
    """A tinyproxy of the test's own; ``login`` (user, password) makes it require Basic auth.

    ``extra``: more config lines, e.g. ``ConnectPort 443`` (tunnels to that port only)."""
    binary = shutil.which("tinyproxy")
    if binary is None:
        servers.missing_peer("tinyproxy (tests/peers/parts.sh)")
        raise AssertionError("unreachable")
    folder = Path(tempfile.mkdtemp(prefix="mcpgate-tinyproxy-"))
    port = servers.free_port()
    proxy = Tinyproxy(port, folder / "tinyproxy.log", login)
    conf = folder / "tinyproxy.conf"
    conf.write_text(config(port, proxy.log, login, extra))
    try:
        with servers.running([binary, "-d", "-c", str(conf)], port, ready_timeout=10):
            yield proxy
    finally:
        shutil.rmtree(folder, ignore_errors=True)
