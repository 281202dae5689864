"""Time, injected: every mechanism reads the monotonic clock and sleeps through a `Clock`.

Tests pass `hardened.testing.FakeClock` and advance time instead of sleeping for it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of time: monotonic seconds for durations, wall seconds for dates."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (durations, deadlines)."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (dates only: waiver expiry, log timestamps)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for `seconds` of this clock's time."""
        ...


class SystemClock:
    """The real clock: `time.monotonic`, `time.time` and `asyncio.sleep`."""

    __slots__ = ()

    # The C function itself: the request path reads it a few times per request, and a
    # Python-level method around it would cost a frame each time.
    monotonic = staticmethod(time.monotonic)

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
