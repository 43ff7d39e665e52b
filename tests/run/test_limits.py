"""File descriptors: a run raises its soft limit to what its VUs need, and says so when it cannot."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mcpgate.results.io import read
from mcpgate.support import exitcodes
from tests.conftest import PeerFactory, Spawn
from tests.run.helpers import config_file

RAISE = """
import resource
from mcpgate.engine.limits import raise_nofile
note = raise_nofile({want})
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
print(note or "")
"""


def limited(soft: int, hard: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def in_child(want: int, soft: int, hard: int) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-c", RAISE.format(want=want)],
        preexec_fn=limited(soft, hard),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    raised, note = done.stdout.split("\n", 1)
    return int(raised), note.strip()


def test_the_soft_limit_is_raised_up_to_what_is_needed() -> None:
    assert in_child(2_000, 256, 4_096) == (2_000, "")


def test_a_hard_limit_too_low_is_one_note_with_the_fix() -> None:
    raised, note = in_child(2_000, 256, 1_024)
    assert raised == 1_024  # as far as it may go
    assert note.startswith("file descriptors: a process of this run may need 2,000 and may open 1,024")
    assert "ulimit -n 2000" in note


async def test_a_run_that_may_need_more_than_it_may_open_says_so(
    peer: PeerFactory, spawn: Spawn, tmp_path: Path
) -> None:
    config = config_file(
        tmp_path / "mcpgate.yaml",
        {
            "target": {"url": peer("stateful-json")},
            "flow": {"tools": [{"name": "get_record", "arguments": {"id": "rec_1"}}]},
            # Up to 300 VUs (about 664 file descriptors), though the rate keeps two busy.
            "scenarios": {
                "open": {
                    "executor": "constant-arrival-rate",
                    "rate": 5,
                    "duration": "1s",
                    "preAllocatedVUs": 2,
                    "maxVUs": 300,
                }
            },
        },
    )
    out = tmp_path / "results.json"
    args = ("run", "-c", str(config), "--workers", "1", "--no-progress", "--out", str(out))
    proc = await spawn(*args, preexec_fn=limited(256, 256))
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == exitcodes.OK, stdout.decode() + stderr.decode()
    warning = "mcpgate: warning: file descriptors: a process of this run may need 664 and may open 256"
    assert warning in stderr.decode()
    results = read(out)
    assert any(n.startswith("file descriptors: a process of this run may need 664") for n in results.run.notes)
    assert "file descriptors" in stdout.decode()  # the console summary's notes
