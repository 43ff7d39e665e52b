#!/usr/bin/env python3
"""The container's door.

no arguments      the GitHub Action: reads INPUT_* variables (docker run -e works the same)
an mcpgate verb   the CLI: `docker run IMAGE run --url ... --profile load` (the verbs are the CLI's own)
anything else     handed over with exec, so `sh` (GitLab CI) and `cat` (Jenkins) work as in any image
"""

import os
import sys


def main() -> int:
    args = sys.argv[1:]
    if not args:
        from mcpgate.doors.action import main as action

        return action()
    if args[0] == "mcpgate":
        args = args[1:]
    from mcpgate.doors.cli import main as cli
    from mcpgate.doors.cli import words

    if not args or args[0] in words():
        return cli(args or ["--help"])
    try:
        os.execvp(args[0], args)
    except OSError as exc:
        print(f"entrypoint: cannot run {args[0]!r}: {exc.strerror or exc}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    raise SystemExit(main())
