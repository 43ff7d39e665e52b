"""HAProxy in front of MCP servers, started by a test on 127.0.0.1 and stopped by PID.

``sticky(backends)``: ``balance roundrobin`` with ``cookie SRV insert indirect nocache``, the
usual sticky-session setup: a request that carries the ``SRV`` cookie goes to its server, one
without it to the next server in turn. Each request is logged (``option httplog``, to stdout, into
the server's log file), so a test can see which replica answered it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.servers import Server, free_port, missing_peer, running

CONFIG = """\
global
    maxconn 4096
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s

frontend mcp
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    cookie SRV insert indirect nocache
{servers}
"""


def config(port: int, backends: Sequence[str]) -> str:
    lines = [f"    server s{i} {host} cookie s{i}" for i, host in enumerate(backends, 1)]
    return CONFIG.format(port=port, servers="\n".join(lines))


@contextlib.contextmanager
def sticky(backends: Sequence[str]) -> Iterator[Server]:
    """HAProxy balancing over ``backends`` (``host:port`` each) with a sticky-session cookie."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        missing_peer("haproxy")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mcpgate-haproxy-") as folder:
        cfg = Path(folder) / "haproxy.cfg"
        cfg.write_text(config(port, backends))
        with running([binary, "-f", str(cfg), "-db"], port) as server:
            yield server


def answered_by(server: Server) -> dict[str, int]:
    """How many requests each replica answered so far, from HAProxy's log (``replicas/s1``...)."""
    text = server.log.read_text(errors="replace")
    counts: dict[str, int] = {}
    for line in text.splitlines():
        for word in line.split():
            if word.startswith("replicas/"):
                name = word.split("/", 1)[1]
                counts[name] = counts.get(name, 0) + 1
    return counts
