"""The progress line while a run goes: a live line on a terminal, a plain line every few seconds in CI."""

from __future__ import annotations

import sys
from typing import TextIO

from mcpgate.support.durations import format_duration
from mcpgate.support.format import count, ms, pct


def progress_line(
    *,
    elapsed: float,
    total: float,
    vus: int,
    vus_max: int,
    iterations: float,
    rps: float,
    error_rate: float | None,
    p95: float | None,
    streams: float | None = None,
) -> str:
    line = (
        f"running {format_duration(round(elapsed))}/{format_duration(round(total))}  "
        f"vus {vus}/{vus_max}  iterations {count(iterations)}  req/s {rps:.1f}  "
        f"not ok {pct(error_rate)}  p95 {ms(p95)}"
    )
    return line if streams is None else f"{line}  streams {count(streams)}"


class Progress:
    """Writes progress lines; on a TTY they overwrite each other, elsewhere each stands alone."""

    def __init__(self, stream: TextIO | None = None, *, every: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.every = every if every is not None else (1.0 if self.live else 10.0)
        self._width = 0
        self.broken = False

    def show(self, line: str) -> None:
        if self.broken:
            return
        try:
            if self.live:
                padded = line.ljust(self._width)
                self._width = len(line)
                self.stream.write("\r" + padded)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
        except OSError:
            self.broken = True  # a closed pipe or a full disk must not end the run

    def note(self, line: str) -> None:
        """A line that stays (a breakpoint step as it is judged), above the live line on a terminal."""
        if self.broken:
            return
        try:
            if self.live and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self._width = 0
            self.stream.write(line + "\n")
            self.stream.flush()
        except OSError:
            self.broken = True

    def done(self) -> None:
        if self.live and self._width and not self.broken:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
