"""SIGINT and SIGTERM during a run: the first stops it with a short grace, the second at once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

INTERRUPT_GRACE = 3.0  # seconds for iterations in flight after SIGINT/SIGTERM


class Signals:
    """SIGINT/SIGTERM: the first stops the run with a short grace; the second stops it at once."""

    def __init__(self) -> None:
        self.count = 0
        self._installed: list[signal.Signals] = []

    def install(self, stop: Callable[[float], None]) -> None:
        loop = asyncio.get_running_loop()

        def handler() -> None:
            self.count += 1
            grace = INTERRUPT_GRACE if self.count == 1 else 0.0
            stop(grace)

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                self._installed.append(sig)

    def remove(self, *, ignore_more: bool = False) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            if ignore_more:
                loop.add_signal_handler(sig, lambda: None)
            else:
                loop.remove_signal_handler(sig)
        self._installed.clear()
