"""BoundedPool: `max_size` permits, handed out in arrival order, and a wait that always ends.

A caller that finds a free permit takes it without awaiting anything. Otherwise it waits at
most `min(acquire_timeout, the request's remaining budget)`, then gets `PoolExhausted` (503 +
Retry-After at the edge): a saturated pool refuses fast instead of parking every request.
When the budget is what bounds the wait, the wait ends `BUDGET_MARGIN` before the deadline, so
the 503 is sent before the edge's own 504 timer fires. An adapter holds one permit per checked
out connection, so the connections behind it are never waited for without a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.deadline import remaining
from hardened.errors import DeadlineExceeded, PoolExhausted
from hardened.pool._state import PoolStats

__all__ = ["BUDGET_MARGIN", "BoundedPool"]

BUDGET_MARGIN = 0.005  # seconds: the pool's refusal lands before the edge's deadline timer


class BoundedPool:
    """The bound of one pool: permits, bounded waits, and the stats every acquire records."""

    __slots__ = ("_free", "_waiters", "acquire_timeout", "clock", "name", "retry_after", "stats")

    def __init__(
        self,
        name: str,
        *,
        max_size: int,
        acquire_timeout: float,
        retry_after: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.acquire_timeout = acquire_timeout
        self.retry_after = retry_after
        self.clock = clock
        self.stats = PoolStats(max_size)
        self._free = max_size
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        """Take a free permit now, if there is one and nobody waits before us."""
        if self._free and not self._waiters:
            self._free -= 1
            stats = self.stats
            stats.in_use += 1
            stats.peak_in_use = max(stats.peak_in_use, stats.in_use)
            return True
        return False

    def wait_bound(self) -> tuple[float, bool]:
        """Seconds a wait may last now, and whether the request's budget is what bounds it."""
        left = remaining()
        if left is None or left - BUDGET_MARGIN >= self.acquire_timeout:
            return self.acquire_timeout, False
        if left <= 0:
            raise DeadlineExceeded(f"no time left to acquire a connection from pool {self.name!r}")
        return max(0.0, left - BUDGET_MARGIN), True

    async def take(self) -> None:
        """Take a permit, waiting at most `wait_bound()`; `PoolExhausted` when none came."""
        if self.try_take():
            return
        wait, by_budget = self.wait_bound()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.stats.waiting += 1
        try:
            async with asyncio.timeout(wait):
                await waiter
        except TimeoutError:
            self._pass_on(waiter)
            self.stats.acquire_timeouts += 1
            bound = "the request's remaining budget" if by_budget else "acquire_timeout"
            raise PoolExhausted(
                f"pool {self.name!r} had no free connection within {wait:.3f}s ({bound}); "
                f"all {self.stats.max_size} are in use",
                retry_after=self.retry_after,
            ) from None
        except BaseException:  # cancelled while waiting (the caller went away)
            self._pass_on(waiter)
            raise
        finally:
            self.stats.waiting -= 1
        stats = self.stats
        stats.in_use += 1
        stats.peak_in_use = max(stats.peak_in_use, stats.in_use)

    def _pass_on(self, waiter: asyncio.Future[None]) -> None:
        """A waiter gave up: drop it, or hand on the permit it was given at the last moment."""
        if waiter.done() and not waiter.cancelled():
            self._free += 1
            self._wake()
        else:
            waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def give(self) -> None:
        """Return a permit: to the longest waiter, or to the free count."""
        self.stats.in_use -= 1
        self._free += 1
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self._free:
            waiter = waiters.popleft()
            if not waiter.done():
                self._free -= 1
                waiter.set_result(None)
