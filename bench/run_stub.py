"""Run the stub MCP server (nginx + njs) by hand, e.g. to point wrk, k6 or mcpgate at it.

    .venv/bin/python -m bench.run_stub --port 8080 --core 0 --seconds 600

It prints the endpoint URLs, serves on 127.0.0.1 until Ctrl-C, SIGTERM or ``--seconds`` (a hard
limit, default 10 minutes), then stops nginx by PID and removes its temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from types import FrameType

from bench.common import running_stub, stub_missing


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run_stub", description="Serve the stub MCP server on 127.0.0.1.")
    p.add_argument("--port", type=int, default=0, help="default: a free port")
    p.add_argument("--core", type=int, help="pin the nginx worker to this core (worker_cpu_affinity)")
    p.add_argument("--seconds", type=float, default=600.0, help="stop after this long (default 600)")
    args = p.parse_args(argv)
    reason = stub_missing()
    if reason is not None:
        print(f"run_stub: {reason}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    with running_stub(args.port or None, core=args.core) as stub:
        print(f"stub MCP server: {stub.url}  (nginx pid {stub.proc.pid}, worker {stub.workers})", flush=True)
        print(f"  with a 5 ms tools/call: {stub.delay_url(5)}  or  {stub.url}?delay_ms=5", flush=True)
        print(f"  stops in {args.seconds:g}s, or on Ctrl-C", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(max(0.0, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
