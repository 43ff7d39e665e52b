"""Run a coroutine on the fastest event loop available: uvloop where it is installed."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop (libuv: cheaper callbacks, sockets and timers) when it is there."""
    try:
        import uvloop
    except ImportError:  # Windows, or an install without it: the standard loop works the same
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
