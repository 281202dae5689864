"""Request expiry on one budget value: a FIFO queue under a single loop timer.

Requests given the same budget expire in the order they arrived, so one timer armed for the
oldest live request replaces a timer per request (a loop timer's creation and cancellation
cost more than the rest of the deadline layer). A request that finishes is marked, and
finished requests leave from the head; a long request holding the head makes the queue
compact itself once it doubles, so it stays bounded by about twice the requests in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["EXPIRED", "FINISHED", "LIVE", "ExpiryQueue"]

# An entry is a list (cheapest to build): [deadline (loop time), task, response, state].
LIVE, FINISHED, EXPIRED = 0, 1, 2
_MIN_COMPACT = 1024


class ExpiryQueue:
    """Cancels each request's task `timeout` seconds after it entered, unless it finished or
    its response already started (checked on the `status` of the request's tracker)."""

    __slots__ = ("_compact_at", "_loop", "_queue", "_timer", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._queue: deque[list[Any]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._compact_at = _MIN_COMPACT

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, loop: asyncio.AbstractEventLoop, task: Any, response: Any) -> list[Any]:
        """Start the clock of one request; the entry to pass to `finish`."""
        if loop is not self._loop:  # first request, or a new loop (the old one is gone)
            self._moved(loop)
        entry = [loop.time() + self.timeout, task, response, LIVE]
        queue = self._queue
        queue.append(entry)
        if self._timer is None:
            self._timer = loop.call_at(entry[0], self._fire)
        elif len(queue) > self._compact_at:
            self._compact()
        return entry

    def finish(self, entry: list[Any]) -> None:
        """The request ended: its entry no longer counts."""
        if entry[3] == LIVE:
            entry[3] = FINISHED
        queue = self._queue
        while queue and queue[0][3]:
            queue.popleft()

    def _moved(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._queue.clear()
        self._loop = loop

    def _compact(self) -> None:
        self._queue = deque(entry for entry in self._queue if not entry[3])
        self._compact_at = max(_MIN_COMPACT, 2 * len(self._queue))

    def _fire(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is None:  # pragma: no cover - a timer only runs on the loop it was armed on
            return
        now = loop.time()
        queue = self._queue
        while queue:
            entry = queue[0]
            if entry[3]:
                queue.popleft()
                continue
            if entry[0] > now:
                self._timer = loop.call_at(entry[0], self._fire)
                return
            queue.popleft()
            task = entry[1]
            if not entry[2].status and not task.done():
                entry[3] = EXPIRED
                task.cancel()
            else:
                entry[3] = FINISHED
