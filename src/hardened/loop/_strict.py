"""Strict mode for tests: fail when the code under test blocks the event loop past a threshold.

    async with strict_loop(threshold=0.05):
        await code_under_test()

or, for every async test of a suite, an autouse fixture in `conftest.py`::

    @pytest.fixture(autouse=True)
    async def _strict_loop():
        async with strict_loop(threshold=0.05):
            yield

It runs the same heartbeat and watchdog as production, with a tighter threshold, and raises
`LoopBlocked` (an `AssertionError`) naming the culprit's file, line and function. Stalls (the
loop thread not running at all because the machine is busy) do not fail a test.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry

from hardened.errors import ConfigError
from hardened.loop._config import LoopConfig
from hardened.loop._frames import BlockedEvent
from hardened.loop._monitor import LoopMonitor

__all__ = ["LoopBlocked", "strict_loop"]


UNSAMPLED = "code the watchdog could not sample (a C call or GC holding the GIL)"


class LoopBlocked(AssertionError):
    """The event loop was blocked past the strict threshold; `events` says where."""

    def __init__(self, events: list[BlockedEvent], threshold: float, root: str = "") -> None:
        self.events = events
        lines = [
            f"the event loop was blocked {len(events)} time(s) past {threshold * 1000:.0f} ms:"
        ]
        for event in events:
            where = event.culprit.label(root) if event.culprit else UNSAMPLED
            lines.append(f"  {event.duration * 1000:.0f} ms in {where}")
        lines.append("run sync work with `await offload(fn, *args)`")
        super().__init__("\n".join(lines))


def strict_config(threshold: float) -> LoopConfig:
    """A monitor config that catches every block of `threshold` seconds or more."""
    if not threshold > 0:
        raise ConfigError(f"the strict threshold must be positive, not {threshold}")
    interval = threshold / 4
    return LoopConfig(
        interval=interval,
        block_threshold=threshold * 0.75,
        watchdog_tick=min(0.01, threshold / 5),
        window=max(60.0, interval * 10),
    )


@contextlib.asynccontextmanager
async def strict_loop(threshold: float = 0.05) -> AsyncIterator[LoopMonitor]:
    """Raise `LoopBlocked` at exit when the loop was blocked for `threshold` seconds or more."""
    monitor = LoopMonitor(strict_config(threshold), registry=CollectorRegistry())
    async with monitor.running():
        yield monitor
        await monitor.settle()
    if monitor.events():
        raise LoopBlocked(monitor.events(), threshold, monitor.root)
