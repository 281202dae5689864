"""The heartbeat: one `loop.call_at` callback per loop whose lateness is the loop's queue delay.

In asyncio a ready callback waits for the loop, so a timer's lateness is the time a ready task
waits: the loop lag the loop monitor reports and the queue delay the shedder acts on. One
heartbeat feeds both (`subscribe`), at the shortest period any of them asks for
(`want_period`). It pauses once every idleness check registered with `pause_when` says the
loop is idle (an idle service then wakes nobody); the next `ensure_running` (a request)
starts it again and tells the `on_resume` listeners.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

__all__ = ["Heartbeat", "wake_loop"]

BeatListener = Callable[[float, float], None]  # (loop time now, lag in seconds)


class Heartbeat:
    """A timer every `period` on one loop; each tick tells the listeners its lag."""

    def __init__(self, period: float) -> None:
        if not period > 0:
            raise ValueError("the heartbeat period must be positive")
        self.period = period
        self.loop: asyncio.AbstractEventLoop | None = None  # None while paused or stopped
        self.due = 0.0  # loop time the next tick is due at
        self.last = 0.0  # the last tick's lag
        self.pauses = 0
        self._handle: asyncio.TimerHandle | None = None
        self._listeners: list[BeatListener] = []
        self._idle_checks: list[Callable[[float, float], bool]] = []
        self._on_pause: list[Callable[[], None]] = []
        self._on_resume: list[Callable[[], None]] = []

    def want_period(self, period: float) -> None:
        """Beat at least every `period` seconds (from the next tick on)."""
        self.period = min(self.period, period)

    def subscribe(self, listener: BeatListener) -> None:
        """Call `listener(now, lag)` on every tick, in the loop's thread."""
        self._listeners.append(listener)

    def pause_when(self, idle: Callable[[float, float], bool]) -> None:
        """Pause once `idle(now, lag)` and every other registered check say the loop is idle."""
        self._idle_checks.append(idle)

    def on_pause(self, listener: Callable[[], None]) -> None:
        """Call `listener()` when the heartbeat pauses."""
        self._on_pause.append(listener)

    def on_resume(self, listener: Callable[[], None]) -> None:
        """Call `listener()` when the heartbeat starts (again)."""
        self._on_resume.append(listener)

    def ensure_running(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the heartbeat on `loop` (or resume it, or move it there)."""
        if self.loop is loop:
            return
        if self._handle is not None:
            self._handle.cancel()
        self.loop = loop
        self.last = 0.0  # nothing measured on this run yet
        self.due = loop.time() + self.period
        self._handle = loop.call_at(self.due, self._tick)
        for listener in self._on_resume:
            listener()

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
        for listener in self._listeners:
            listener(now, lag)
        idle = [check(now, lag) for check in self._idle_checks]  # every check sees every tick
        if idle and all(idle):
            self._handle = None
            self.loop = None
            self.pauses += 1
            for paused in self._on_pause:
                paused()
            return
        self.due = now + self.period
        self._handle = loop.call_at(self.due, self._tick)


def wake_loop(loop: asyncio.AbstractEventLoop, timeout: float) -> bool:
    """From another thread: whether `loop` runs a callback posted now within `timeout`."""
    ran = threading.Event()
    try:
        loop.call_soon_threadsafe(ran.set)
    except RuntimeError:  # the loop is closed
        return False
    return ran.wait(timeout)
