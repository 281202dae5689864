"""FakeClock: time that moves only when a test advances it."""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["FakeClock"]


class FakeClock:
    """A `Clock` for tests: `advance(s)` moves time and wakes the sleepers whose time has come."""

    def __init__(self, *, start: float = 1000.0, wall_start: float = 1_767_225_600.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking every sleeper due by then."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def set_wall(self, epoch_seconds: float) -> None:
        """Set the wall clock (dates) without moving monotonic time."""
        self._wall_offset = epoch_seconds - self._now

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting for time to move."""
        return sum(1 for _, _, f in self._sleepers if not f.done())
