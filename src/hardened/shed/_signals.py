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

from hardened.heartbeat import Heartbeat

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
    """The queue delay read from a heartbeat: the lag of its last tick, or how late the next is.

    The heartbeat is the loop's one (`hardened.heartbeat`, shared with the loop monitor when
    the service has one). With `activity` (a reader of (requests seen so far, requests in
    flight)) it may pause once nothing has happened for `idle_after` seconds and the queue is
    calm; the next request starts it again (`ensure_running`).
    """

    def __init__(
        self,
        period: float,
        codel: CoDel,
        *,
        activity: Callable[[], tuple[int, int]] | None = None,
        idle_after: float = 0.0,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.heartbeat = heartbeat if heartbeat is not None else Heartbeat(period)
        self.heartbeat.want_period(period)
        self.heartbeat.subscribe(self._on_beat)
        self.codel = codel
        self._activity = activity
        self._idle_after = idle_after
        if activity is not None and idle_after > 0:
            self.heartbeat.pause_when(self._idle)
        self._quiet_since: float | None = None
        self._seen = -1
        self.last = 0.0
        self._max = [0.0, 0.0]  # two rotating 5 s windows: max over the last 5-10 s
        self._window = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the heartbeat runs on; None while it is paused or stopped."""
        return self.heartbeat.loop

    @property
    def due(self) -> float:
        """The loop time the next tick is due at."""
        return self.heartbeat.due

    @due.setter
    def due(self, value: float) -> None:
        self.heartbeat.due = value

    @property
    def pauses(self) -> int:
        """How often the heartbeat has paused."""
        return self.heartbeat.pauses

    def ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start (or resume, or move) the heartbeat on `loop`."""
        if self.heartbeat.loop is not loop:
            self.last = 0.0  # nothing measured on this run yet
            self._quiet_since = None
            self.heartbeat.ensure_running(loop)

    def stop(self) -> None:
        """Cancel the heartbeat."""
        self.heartbeat.stop()

    def _on_beat(self, now: float, lag: float) -> None:
        self.last = lag
        window = int(now // 5)
        if window != self._window:
            self._max = [self._max[1] if window == self._window + 1 else 0.0, 0.0]
            self._window = window
        self._max[1] = max(self._max[1], lag)
        self.codel.update(now, lag)

    def _idle(self, now: float, lag: float) -> bool:
        """Whether `idle_after` has passed with no request and a calm queue."""
        assert self._activity is not None
        seen, inflight = self._activity()
        if seen != self._seen or inflight or lag > self.codel.target or self.codel.overloaded:
            self._seen = seen
            self._quiet_since = None
            return False
        if self._quiet_since is None:
            self._quiet_since = now
        return now - self._quiet_since >= self._idle_after - 1e-9  # float ticks: 0.03 != 0.0299…

    def current(self, now: float) -> float:
        """The queue delay now: the last tick's lag, or how late the next tick already is."""
        late = now - self.heartbeat.due
        if late <= self.last or self.heartbeat.loop is None:
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
