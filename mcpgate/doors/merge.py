"""``mcpgate merge`` on the command line: the shards' files in, the merged run's results and gate out."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcpgate.app.deliver import Outputs, deliver
from mcpgate.app.merge import expand, judged, merge_files
from mcpgate.results.schema import Results
from mcpgate.support.errors import UsageError


def register(
    verbs: argparse._SubParsersAction[Any],
    *,
    report_options: Callable[[argparse.ArgumentParser], None],
    check_out: Callable[[Path, str], None],
    results_file: Callable[[Path], Results],
    is_file: Callable[[Path, str], bool],
    drift_window: Callable[[argparse.Namespace], float | None],
) -> None:
    """``mcpgate merge``; cli.py hands over its own flags and checks, so those shared with ``run`` behave the same."""
    p = verbs.add_parser("merge", help="merge the results files of a run's shards into the run's results")
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="the shards' results files; mcpgate expands globs ('out/shard-*.json')"
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="write the merged results as JSON")
    report_options(p)
    p.add_argument(
        "--allow-missing", action="store_true", help="merge the shards there are, with a warning, if some are missing"
    )
    p.set_defaults(
        handler=functools.partial(
            _main, check_out=check_out, results_file=results_file, is_file=is_file, drift_window=drift_window
        )
    )


def _main(
    args: argparse.Namespace,
    *,
    check_out: Callable[[Path, str], None],
    results_file: Callable[[Path], Results],
    is_file: Callable[[Path, str], bool],
    drift_window: Callable[[argparse.Namespace], float | None],
) -> int:
    for flag, path in (("--out", args.out), ("--markdown", args.markdown), ("--junit", args.junit)):
        if path is not None:
            check_out(path, flag)
    baseline = results_file(args.baseline) if args.baseline is not None else None
    if args.summary_template is not None and not is_file(args.summary_template, "--summary-template"):
        raise UsageError("--summary-template", f"{args.summary_template}: no such file")
    outputs = [p for p in (args.out, args.markdown, args.junit) if p is not None]
    merged = merge_files(expand(args.files, skip=outputs), allow_missing=args.allow_missing)
    results = judged(
        merged,
        baseline=baseline,
        max_regression=args.max_regression,
        max_drift=args.max_drift,
        window=drift_window(args),
    )
    for warning in merged.warnings:
        print(f"mcpgate: warning: {warning}", file=sys.stderr)
    options = Outputs(
        out=args.out,
        markdown=args.markdown,
        junit=args.junit,
        summary_template=args.summary_template,
    )
    deliver(results, options, sys.stdout, sys.stderr)
    return results.run.exit_code
