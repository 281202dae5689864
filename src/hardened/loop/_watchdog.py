"""The watchdog thread: notices a late heartbeat, samples the loop thread, reports the block.

It never touches the loop. The heartbeat publishes `(seq, due)` and, when it ran late past the
threshold, queues a `LateBeat` and wakes the watchdog. The watchdog samples every tick once the
heartbeat is a quarter of the threshold overdue (so that a busy host delaying the watchdog
itself still leaves it time to sample) and, once the late beat shows up in the queue (the loop
recovered), turns the samples into one `BlockedEvent`; a beat under the threshold discards them.
While the loop is healthy it sleeps until the current heartbeat would become that overdue
(one wake-up per heartbeat, 20 a second, instead of 100 for a fixed 10 ms tick).
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

# seq, lag, wall time, monotonic time, loop thread CPU ratio, its run-queue wait (or None)
LateBeat = tuple[int, float, float, float, float, float | None]


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
        self._sample_from = threshold / 4
        self._loop_thread = loop_thread
        self._frames = frames
        self._beat = beat
        self._late = late
        self._on_event = on_event
        self._sampler: Sampler | None = None
        self._block_seq = -1
        self._block_due = 0.0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="hardened-loop-watchdog", daemon=True
        )
        self.failure: str | None = None

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Report a late beat now rather than at the next scheduled wake-up."""
        self._wake.set()

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop ticking (after a last pass over late beats); True when the thread has ended."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def blocked_for(self) -> float | None:
        """Seconds code has held the loop past the threshold, when that is happening now."""
        sampler = self._sampler
        if sampler is None or sampler.samples == 0:
            return None
        overdue = time.monotonic() - self._block_due
        return overdue if overdue >= self._threshold else None

    def _run(self) -> None:
        try:
            pause = self._tick
            while True:
                self._wake.wait(pause)
                self._wake.clear()
                if self._stopping:
                    break
                pause = self._step()
            self._drain()
        except Exception as exc:  # a broken watchdog must show in the gate, not kill the app
            self.failure = f"{type(exc).__name__}: {exc}"
            logger.exception("the event loop watchdog stopped")

    def _drain(self) -> None:
        while self._late:
            seq, lag, wall, monotonic, cpu_ratio, waited = self._late.popleft()
            sampler = self._sampler
            if sampler is not None and seq > self._block_seq:
                self._sampler = None
            else:  # the block ended before the watchdog saw it overdue: no samples
                sampler = Sampler(self._loop_thread, self._frames)
            event = sampler.event(
                duration=lag,
                ended_at=wall,
                ended_monotonic=monotonic,
                cpu_ratio=cpu_ratio,
                runqueue_wait=waited,
            )
            self._on_event(event)

    def _step(self) -> float:
        """One pass; returns how long to sleep before the next."""
        self._drain()
        seq, due = self._beat()
        if self._sampler is not None and seq != self._block_seq:
            self._drain()  # a late beat is queued before the state moves: it takes the samples
            self._sampler = None  # otherwise the heartbeat ran under the threshold: no block
        overdue = time.monotonic() - due
        if overdue < self._sample_from:
            return max(self._tick, self._sample_from - overdue)
        if self._sampler is None:
            self._sampler = Sampler(self._loop_thread, self._frames)
            self._block_seq = seq
            self._block_due = due
        self._sampler.sample()
        return self._tick
