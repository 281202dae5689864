"""A sliding time window of 1 s buckets counting calls, failures and slow calls."""

from __future__ import annotations

__all__ = ["RateWindow"]


class RateWindow:
    """Counts over the last `buckets` whole seconds (the current one included).

    Totals are kept as running sums; moving to a new second clears the buckets it skipped,
    so a read costs nothing and a write costs at most one pass over the ring.
    """

    __slots__ = (
        "_calls",
        "_failures",
        "_head",
        "_size",
        "_slow",
        "_stamps",
        "calls",
        "failures",
        "slow",
    )

    def __init__(self, buckets: int) -> None:
        self._size = buckets
        self._calls = [0] * buckets
        self._failures = [0] * buckets
        self._slow = [0] * buckets
        self._stamps = [-1] * buckets
        self._head = -1
        self.calls = self.failures = self.slow = 0

    def roll(self, now: float) -> int:
        """Move the head to second `now`, dropping what fell out of the window; its index."""
        second = int(now)
        head = self._head
        if second != head:
            if second < head:  # a clock read taken before another caller's write
                return head % self._size
            for passed in range(max(head + 1, second - self._size + 1), second + 1):
                index = passed % self._size
                self.calls -= self._calls[index]
                self.failures -= self._failures[index]
                self.slow -= self._slow[index]
                self._calls[index] = self._failures[index] = self._slow[index] = 0
                self._stamps[index] = passed
            self._head = second
        return second % self._size

    def add(self, now: float, *, failure: bool, slow: bool) -> None:
        """Record one call that ended at `now`."""
        index = self.roll(now)
        self._calls[index] += 1
        self.calls += 1
        if failure:
            self._failures[index] += 1
            self.failures += 1
        if slow:
            self._slow[index] += 1
            self.slow += 1

    def clear(self) -> None:
        """Forget every call (a state change starts a new window)."""
        for ring in (self._calls, self._failures, self._slow):
            ring[:] = [0] * self._size
        self._stamps[:] = [-1] * self._size
        self._head = -1
        self.calls = self.failures = self.slow = 0

    def counts(self, now: float) -> tuple[int, int, int]:
        """(calls, failures, slow) in the window ending at `now`, without moving it (a reader
        in another thread, or a window that saw no call for a while)."""
        oldest = int(now) - self._size
        calls = failures = slow = 0
        for index, stamp in enumerate(self._stamps):
            if stamp > oldest:
                calls += self._calls[index]
                failures += self._failures[index]
                slow += self._slow[index]
        return calls, failures, slow
