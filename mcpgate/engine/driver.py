"""How a run's load is made: in this process (local.py) or over worker processes (fleet.py).

The engine (runner.py) owns what every run has: the stop signal, the timeline,
the abort watch, the wait for a start time, the outcome. A driver makes the load
and feeds what it measures into the engine's metrics; it sees the engine only
as a ``Host``, so neither module imports the other.
"""

from __future__ import annotations

from typing import Any, Protocol

from mcpgate.engine.control import Control
from mcpgate.engine.steps import StepSearch
from mcpgate.metrics.recorder import ErrorLog
from mcpgate.metrics.registry import Metrics
from mcpgate.metrics.timeline import Timeline


class Host(Protocol):
    """What a driver sees of the engine: where samples go, the stop signal, the timeline, the step search."""

    @property
    def metrics(self) -> Metrics: ...
    @property
    def errors(self) -> ErrorLog: ...
    @property
    def control(self) -> Control: ...
    @property
    def interval(self) -> float: ...
    @property
    def timeline(self) -> Timeline: ...
    @property
    def search(self) -> StepSearch[Any] | None: ...

    def tick(self, elapsed: float) -> None:
        """Close the timeline interval that ends ``elapsed`` seconds into the run."""
        ...


class Driver(Protocol):
    """One way to make a run's load; the engine calls these in this order."""

    async def prepare(self, control: Control) -> None:
        """Get ready before the run's clock starts (a fleet starts its workers); a stop ends the wait."""
        ...

    async def close(self) -> None:
        """The load never starts (stopped while waiting for its start time): end what prepare() began."""
        ...

    async def drive(self, host: Host, started: float) -> None:
        """The load from ``started`` (loop time) to its end, its samples in the host's metrics as it goes."""
        ...

    def halt(self) -> None:
        """A stop with no grace: cut short what runs in this process (workers end on their own)."""
        ...

    def finish(self, now: float) -> None:
        """The load is over (or interrupted), at loop time ``now``: close what is judged at its end."""
        ...
