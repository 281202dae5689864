"""Request expiry on one budget value: a FIFO queue under a single loop timer.

Requests given the same budget expire in the order they arrived, so one timer armed for the
oldest live request replaces a timer per request (a loop timer's creation and cancellation
cost more than the rest of the deadline stage). A request that finishes is marked, and
finished requests leave from the head; a long request holding the head makes the queue
compact itself once it doubles, so it stays bounded by about twice the requests in flight.

The queue holds `Expiry` entries: a request's task, its absolute expiry (monotonic seconds) and
its response tracker (expiry after the response started is a no-op: the status is out).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from hardened.stages import Exchange

__all__ = ["EXPIRED", "FINISHED", "LIVE", "Expiry", "ExpiryQueue", "expire"]

LIVE, FINISHED, EXPIRED = 0, 1, 2
_MIN_COMPACT = 1024


class Expiry:
    """One request's expiry entry: `task` is cancelled at `expires` (time.monotonic seconds)
    unless the request finished or the response of `exchange` started."""

    __slots__ = ("exchange", "expires", "state", "task")

    def __init__(self, exchange: Exchange, task: asyncio.Task[Any], expires: float) -> None:
        self.exchange = exchange
        self.task = task
        self.expires = expires
        self.state = LIVE


def expire(entry: Expiry) -> None:
    """Cancel the entry's task now, unless its response started or the task is done."""
    task = entry.task
    if not entry.exchange.status and not task.done():
        entry.state = EXPIRED
        task.cancel()
    else:
        entry.state = FINISHED


class ExpiryQueue:
    """Expires each registered exchange at its `expires`, in arrival order (one timer).

    The deadline stage writes out `add`'s common case (the timer armed on this loop, no
    compaction due: append) and `finish` in its own frame; they are the reference for it.
    """

    __slots__ = ("compact_at", "loop", "queue", "timeout", "timer")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.queue: deque[Expiry] = deque()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.compact_at = _MIN_COMPACT

    def __len__(self) -> int:
        return len(self.queue)

    def add(self, loop: asyncio.AbstractEventLoop, exchange: Expiry) -> None:
        """Start watching `exchange` (its task and expiry already set)."""
        if loop is not self.loop:  # first request, or a new loop (the old one is gone)
            self._moved(loop)
        queue = self.queue
        queue.append(exchange)
        if self.timer is None:
            self._arm(loop, exchange.expires)
        elif len(queue) > self.compact_at:
            self._compact()

    def finish(self, exchange: Expiry) -> None:
        """The request ended: its entry no longer counts."""
        if exchange.state == LIVE:
            exchange.state = FINISHED
        queue = self.queue
        while queue and queue[0].state:
            queue.popleft()

    def _arm(self, loop: asyncio.AbstractEventLoop, expires: float) -> None:
        # call_later on the monotonic clock: uvloop's loop time is a cached millisecond clock.
        self.timer = loop.call_later(max(0.0, expires - time.monotonic()), self._fire)

    def _moved(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None
        self.queue.clear()
        self.loop = loop

    def _compact(self) -> None:
        self.queue = deque(exchange for exchange in self.queue if not exchange.state)
        self.compact_at = max(_MIN_COMPACT, 2 * len(self.queue))

    def _fire(self) -> None:
        self.timer = None
        loop = self.loop
        if loop is None:  # pragma: no cover - a timer only runs on the loop it was armed on
            return
        now = time.monotonic()
        queue = self.queue
        while queue:
            exchange = queue[0]
            if exchange.state:
                queue.popleft()
                continue
            if exchange.expires > now:
                self._arm(loop, exchange.expires)
                return
            queue.popleft()
            expire(exchange)
