"""The shedder's two saturation signals: queue delay (CoDel over loop lag) and Gradient2.

Queue delay: in asyncio, the lag of a heartbeat callback is the time a ready task waits for the
loop — the request queue of a CPU-bound service, which an in-flight limit cannot see (the
handler holds the loop, so in-flight stays near 1). Gradient2 (Netflix concurrency-limits)
bounds in-flight requests for I/O-bound saturation: the limit follows long RTT / short RTT.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

__all__ = ["CoDel", "Gradient2", "QueueDelayMonitor"]


class CoDel:
    """Overloaded once the delay stays above `target` for `interval`; clear after `interval`."""

    __slots__ = ("_below_since", "above_since", "episodes", "interval", "overloaded", "target")

    def __init__(self, target: float, interval: float) -> None:
        self.target = target
        self.interval = interval
        self.overloaded = False
        self.episodes = 0
        self.above_since: float | None = None
        self._below_since: float | None = None

    def update(self, now: float, delay: float) -> bool:
        """Feed one delay measurement at `now`; whether the queue is overloaded."""
        if delay > self.target:
            self._below_since = None
            if self.above_since is None:
                self.above_since = now
            if not self.overloaded and now - self.above_since >= self.interval:
                self.overloaded = True
                self.episodes += 1
        else:
            self.above_since = None
            if self.overloaded:
                if self._below_since is None:
                    self._below_since = now
                if now - self._below_since >= self.interval:
                    self.overloaded = False
        return self.overloaded


class QueueDelayMonitor:
    """A heartbeat on the running loop: the lag of each tick is the current queue delay.

    With `activity` (a reader of (requests seen so far, requests in flight)) the heartbeat
    pauses once nothing has happened for `idle_after` seconds and the queue is calm: an idle
    service then wakes nobody 100 times a second. The next request starts it again
    (`ensure_running`); the loop gate's own heartbeat keeps watching the idle loop.
    """

    def __init__(
        self,
        period: float,
        codel: CoDel,
        *,
        activity: Callable[[], tuple[int, int]] | None = None,
        idle_after: float = 0.0,
    ) -> None:
        self.period = period
        self.codel = codel
        self._activity = activity
        self._idle_ticks = math.ceil(idle_after / period) if activity and idle_after > 0 else 0
        self._quiet = 0
        self._seen = -1
        self.pauses = 0
        self.last = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None  # where the heartbeat runs
        self.due = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._max = [0.0, 0.0]  # two rotating 5 s windows: max over the last 5-10 s
        self._window = 0

    def ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start (or move) the heartbeat to `loop`."""
        if self.loop is loop:
            return
        if self._handle is not None:
            self._handle.cancel()
        self.loop = loop
        self.last = 0.0  # nothing measured on this run yet
        self._quiet = 0
        self.due = loop.time() + self.period
        self._handle = loop.call_at(self.due, self._tick)

    def stop(self) -> None:
        """Cancel the heartbeat."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self.loop = None

    def _tick(self) -> None:
        loop = self.loop
        if loop is None:
            return
        now = loop.time()
        lag = max(0.0, now - self.due)
        self.last = lag
        window = int(now // 5)
        if window != self._window:
            self._max = [self._max[1] if window == self._window + 1 else 0.0, 0.0]
            self._window = window
        self._max[1] = max(self._max[1], lag)
        self.codel.update(now, lag)
        if self._idle_ticks and self._idle(lag):
            self._handle = None
            self.loop = None  # the next request's ensure_running starts it again
            self.pauses += 1
            return
        self.due = now + self.period
        self._handle = loop.call_at(self.due, self._tick)

    def _idle(self, lag: float) -> bool:
        """Whether `idle_after` has passed with no request and a calm queue."""
        assert self._activity is not None
        seen, inflight = self._activity()
        if seen != self._seen or inflight or lag > self.codel.target or self.codel.overloaded:
            self._seen = seen
            self._quiet = 0
            return False
        self._quiet += 1
        return self._quiet >= self._idle_ticks

    def current(self, now: float) -> float:
        """The queue delay now: the last tick's lag, or how late the next tick already is."""
        late = now - self.due
        if late <= self.last or self.loop is None:
            return self.last
        return late

    def recent_max(self) -> float:
        """The largest lag seen over the last 5-10 seconds."""
        return max(self._max)


class Gradient2:
    """Adaptive in-flight limit: L' = L·clamp(tolerance·long/short, 0.5, 1) + √L, smoothed."""

    __slots__ = (
        "_long",
        "_short",
        "limit",
        "max_limit",
        "min_limit",
        "samples",
        "smoothing",
        "tolerance",
        "warmup",
    )

    def __init__(
        self,
        *,
        initial: int,
        min_limit: int,
        max_limit: int,
        smoothing: float,
        tolerance: float,
        warmup: int = 0,
    ) -> None:
        self.limit = float(initial)
        self.samples = 0
        self.warmup = warmup
        self.min_limit = min_limit
        self.max_limit = max_limit
        self.smoothing = smoothing
        self.tolerance = tolerance
        self._long = 0.0
        self._short = 0.0

    @property
    def rtts(self) -> tuple[float, float]:
        """(long, short) RTT averages in seconds."""
        return self._long, self._short

    @property
    def learned(self) -> bool:
        """True once `warmup` requests have finished: the limit rests on measured latency."""
        return self.samples >= self.warmup

    def on_sample(self, rtt: float, inflight: int) -> None:
        """Update the limit with one finished request's latency and the in-flight count."""
        if rtt <= 0:
            return
        self.samples += 1
        long, short = self._long, self._short
        if long == 0.0:
            long = short = rtt
        short += (rtt - short) * 0.1  # about 10 samples
        long += (rtt - long) * (2 / 601)  # about 600 samples
        if long / short > 2:  # recover quickly from a long-gone slow period
            long *= 0.95
        self._long, self._short = long, short
        if inflight < self.limit / 2:  # app-limited: no evidence to grow or shrink
            return
        gradient = max(0.5, min(1.0, self.tolerance * self._long / self._short))
        target = self.limit * gradient + math.sqrt(self.limit)
        limit = self.limit * (1 - self.smoothing) + target * self.smoothing
        self.limit = min(float(self.max_limit), max(float(self.min_limit), limit))
