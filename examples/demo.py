"""The README's demo: start the bundled example server, probe it, load-test it briefly, stop it.

make demo        (or: python examples/demo.py, with mcpgate and mcp installed)
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: the example server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise SystemExit("demo: the example server did not start in time")


def run(*args: str) -> int:
    print(f"\n$ mcpgate {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "mcpgate", *args])


def main() -> int:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    print(f"demo: starting the example server (official MCP SDK) on {url}", flush=True)
    server = subprocess.Popen(
        # A 1-2 s upstream instead of the seed's 2-5 s, so the seed's p(95)<3000 gate can hold.
        [sys.executable, str(HERE / "server" / "server.py"), "--port", str(port), "--external-delay", "1..2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(server, port)
        config = str(HERE / "mcpgate.yaml")
        codes = [
            run("probe", url, "--call", "get_record", "--args", '{"id": "rec_42"}'),
            # The seed guide's staged test, its 14 minutes compressed to 45 seconds.
            run("run", "-c", config, "--url", url, "--duration", "45s", "--out", "demo-results.json"),
        ]
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
    failed = [c for c in codes if c != 0]
    print(f"\ndemo: {'done' if not failed else 'a step failed'}")
    return failed[0] if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
