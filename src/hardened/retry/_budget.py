"""RetryBudget: retries per dependency limited to a share of its calls, plus a small floor.

Every call deposits; every retry withdraws. A retry is allowed while the retries of the last
`window` seconds stay under `ratio` times the calls of that window, or, past that, while fewer than
`min_per_second` retries were taken from the floor this second. When a dependency fails every
call, N callers make at most about N · (1 + ratio) + min_per_second attempts, not N · attempts.
"""

from __future__ import annotations

import math

__all__ = ["RetryBudget"]


class RetryBudget:
    """A sliding window (1 s buckets) of calls and retries, read and written on the loop."""

    __slots__ = (
        "_calls",
        "_floor_second",
        "_floor_used",
        "_head",
        "_retries",
        "_size",
        "_stamps",
        "calls",
        "min_per_second",
        "ratio",
        "refused_total",
        "retries",
        "retries_total",
    )

    def __init__(self, *, ratio: float, min_per_second: int, window: float) -> None:
        self.ratio = ratio
        self.min_per_second = min_per_second
        self._size = math.ceil(window)
        self._calls = [0] * self._size
        self._retries = [0] * self._size
        self._stamps = [-1] * self._size
        self._head = -1
        self._floor_second = -1
        self._floor_used = 0
        self.calls = self.retries = 0
        self.retries_total = self.refused_total = 0

    def _roll(self, now: float) -> int:
        second = int(now)
        head = self._head
        if second > head:
            for passed in range(max(head + 1, second - self._size + 1), second + 1):
                index = passed % self._size
                self.calls -= self._calls[index]
                self.retries -= self._retries[index]
                self._calls[index] = self._retries[index] = 0
                self._stamps[index] = passed
            self._head = second
        return max(second, head) % self._size

    def deposit(self, now: float) -> None:
        """Count one call (its first attempt) at `now`."""
        index = self._roll(now)
        self._calls[index] += 1
        self.calls += 1

    def withdraw(self, now: float) -> bool:
        """Take one retry from the budget at `now`; False when it is spent."""
        index = self._roll(now)
        if self.retries >= self.ratio * self.calls:
            second = int(now)
            if second != self._floor_second:
                self._floor_second, self._floor_used = second, 0
            if self._floor_used >= self.min_per_second:
                self.refused_total += 1
                return False
            self._floor_used += 1
        self._retries[index] += 1
        self.retries += 1
        self.retries_total += 1
        return True

    def left(self, now: float) -> int:
        """Retries the budget would allow right now (a reader: it moves nothing): the ratio's
        share rounded up as `withdraw` counts it (1.4 allows a second retry), then the floor."""
        oldest = int(now) - self._size
        calls = retries = 0
        for index, stamp in enumerate(self._stamps):
            if stamp > oldest:
                calls += self._calls[index]
                retries += self._retries[index]
        floor = self.min_per_second
        if int(now) == self._floor_second:
            floor -= self._floor_used
        return max(0, math.ceil(self.ratio * calls) - retries) + max(0, floor)
