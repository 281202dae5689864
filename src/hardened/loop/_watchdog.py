"""The watchdog thread: notices a late heartbeat, samples the loop thread, reports the block.

It never touches the loop. The heartbeat publishes `(seq, due)` and, when it ran late past the
threshold, appends `(seq, lag, wall, monotonic)` to a queue; the watchdog samples while the
heartbeat is overdue and, once the late beat shows up in the queue (the loop recovered), turns
the samples into one `BlockedEvent`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from hardened.loop._frames import BlockedEvent, FrameFilter, Sampler

__all__ = ["LateBeat", "Watchdog"]

logger = logging.getLogger("hardened.loop")

LateBeat = tuple[int, float, float, float]  # seq, lag, wall time, monotonic time


class Watchdog:
    """A daemon thread that ticks every `tick` seconds while the monitor runs."""

    def __init__(
        self,
        *,
        tick: float,
        threshold: float,
        loop_thread: int,
        frames: FrameFilter,
        beat: Callable[[], tuple[int, float]],
        late: deque[LateBeat],
        on_event: Callable[[BlockedEvent], None],
    ) -> None:
        self._tick = tick
        self._threshold = threshold
        self._loop_thread = loop_thread
        self._frames = frames
        self._beat = beat
        self._late = late
        self._on_event = on_event
        self._sampler: Sampler | None = None
        self._block_seq = -1
        self._block_due = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="hardened-loop-watchdog", daemon=True
        )
        self.failure: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop ticking (after a last pass over late beats); True when the thread has ended."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def blocked_for(self) -> float | None:
        """Seconds the heartbeat has been overdue when a block is being sampled now, else None."""
        if self._sampler is None:
            return None
        return max(0.0, time.monotonic() - self._block_due)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._tick):
                self._step()
            self._drain()
        except Exception as exc:  # a broken watchdog must show in the gate, not kill the app
            self.failure = f"{type(exc).__name__}: {exc}"
            logger.exception("the event loop watchdog stopped")

    def _drain(self) -> None:
        while self._late:
            seq, lag, wall, monotonic = self._late.popleft()
            sampler = self._sampler
            if sampler is not None and seq > self._block_seq:
                self._sampler = None
            else:  # the block ended before the watchdog saw it overdue: no samples
                sampler = Sampler(self._loop_thread, self._frames)
            self._on_event(sampler.event(duration=lag, ended_at=wall, ended_monotonic=monotonic))

    def _step(self) -> None:
        self._drain()
        seq, due = self._beat()
        if time.monotonic() - due < self._threshold:
            return
        if self._sampler is None:
            self._sampler = Sampler(self._loop_thread, self._frames)
            self._block_seq = seq
            self._block_due = due
        self._sampler.sample()
