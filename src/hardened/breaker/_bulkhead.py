"""Bulkhead: at most N calls in flight to one dependency; a bounded wait, then `BulkheadFull`.

A slow dependency then holds at most its own slots, never every task of the process: calls to
other dependencies and requests that call nothing outside keep their latency.
"""

from __future__ import annotations

import asyncio
from collections import deque

from hardened.breaker._config import BulkheadConfig
from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.errors import BulkheadFull

__all__ = ["Bulkhead"]


class Bulkhead:
    """A FIFO semaphore with a bounded wait on the injected clock."""

    __slots__ = ("_clock", "_waiters", "config", "in_use", "name", "rejected_total")

    def __init__(
        self, name: str, config: BulkheadConfig | None = None, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.name = name
        self.config = config or BulkheadConfig()
        self.in_use = 0
        self.rejected_total = 0
        self._clock = clock
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot now."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def try_enter(self) -> bool:
        """Take a free slot now if there is one (no waiting)."""
        if self.in_use < self.config.max_concurrent and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def enter(self) -> None:
        """Take a slot, waiting up to `max_wait`; `BulkheadFull` when none frees in time."""
        if self.in_use < self.config.max_concurrent and not self._waiters:
            self.in_use += 1
            return
        await self._wait()

    async def _wait(self) -> None:
        if self.config.max_wait <= 0:
            self._reject()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        timer = asyncio.ensure_future(self._clock.sleep(self.config.max_wait))
        try:
            await asyncio.wait((waiter, timer), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # granted a slot at the moment the caller went away
            raise
        finally:
            timer.cancel()
            if not waiter.done():
                waiter.cancel()
                self._waiters.remove(waiter)
        if not waiter.cancelled():
            return  # `leave()` handed its slot over: in_use already counts this caller
        self._reject()

    def _reject(self) -> None:
        self.rejected_total += 1
        limit, wait = self.config.max_concurrent, self.config.max_wait
        raise BulkheadFull(
            f"the {self.name} bulkhead has {limit} calls in flight (waited {wait:.3f} s)",
            retry_after=1.0,
        )

    def leave(self) -> None:
        """Free a slot: hand it to the oldest waiter, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_use -= 1
