"""LoopMonitor: the heartbeat on the loop, the watchdog beside it, the window of evidence.

The heartbeat is the loop's one `hardened.heartbeat.Heartbeat` (shared with the shedder);
its lateness is the loop lag. Every beat updates the watchdog's view; the lag evidence is
sampled once per `interval`; while the heartbeat is paused (idle) the watchdog rests. Nothing
is patched, so it measures asyncio and uvloop alike, on the real monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from hardened.heartbeat import Heartbeat, wake_loop
from hardened.loop._config import LoopConfig
from hardened.loop._frames import BlockedEvent, FrameFilter
from hardened.loop._state import LoopMetrics
from hardened.loop._watchdog import LateBeat, Watchdog

__all__ = ["LoopMonitor"]

logger = logging.getLogger("hardened.loop")

SETTLE_SECONDS = 1.0
_PAUSED_FOR = 3600.0  # a paused heartbeat is "due" this far ahead: the watchdog sleeps


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _open_schedstat() -> int | None:
    """This thread's scheduler statistics (Linux): CPU time and run-queue wait, in ns."""
    try:
        return os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
    except OSError:
        return None


class LoopMonitor:
    """Measures lag on the running loop and attributes every block past the threshold."""

    outbound = False  # process-wide: no per-request calls, so no request budget to read

    def __init__(
        self,
        config: LoopConfig,
        *,
        registry: CollectorRegistry,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.config = config
        self.heartbeat = heartbeat if heartbeat is not None else Heartbeat(config.interval)
        self.heartbeat.subscribe(self._beat)
        self.heartbeat.on_pause(self._paused)
        self.heartbeat.on_resume(self._resumed)
        self._sampled_at = 0.0  # when the lag evidence was last sampled
        self.metrics = LoopMetrics(registry, max_culprit_labels=config.max_culprit_labels)
        self.state = "not started"
        self.loop_name: str | None = None
        self.blocked_total = 0
        self.blocked_seconds = 0.0
        self.stalls_total = 0
        self.root = ""
        self._lags: deque[float] = deque(maxlen=config.window_beats)
        self._events: deque[BlockedEvent] = deque(maxlen=config.max_events)
        self._stalls: deque[BlockedEvent] = deque(maxlen=config.max_events)
        self._late: deque[LateBeat] = deque(maxlen=1024)
        self._beat_state: tuple[int, float] = (0, 0.0)
        self._last_beat: tuple[float, float, float] = (0.0, 0.0, 0.0)  # time, CPU, run-queue
        self._beat_at = 0.0
        self._schedstat: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: Watchdog | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._listeners: list[Callable[[BlockedEvent], None]] = []
        self._lock = threading.Lock()

    # -- life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start on the running loop (call from the loop's thread)."""
        if self.state == "running":
            raise RuntimeError("the loop monitor is already running")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.loop_name = type(loop).__module__.split(".")[0]
        self.root = os.getcwd()
        self._beat_state = (0, time.monotonic() + self.heartbeat.period)
        self._schedstat = _open_schedstat()
        self._watchdog = Watchdog(
            tick=self.config.watchdog_tick,
            threshold=self.config.block_threshold,
            loop_thread=threading.get_ident(),
            frames=FrameFilter(self.config.app_paths),
            beat=lambda: self._beat_state,
            late=self._late,
            on_event=self._record,
        )
        self._watchdog.start()
        # The first beat is due one interval after the watchdog runs: starting a thread waits
        # for it to be scheduled (long on a starved CPU), and that wait is not the app's block.
        self._beat_state = (0, time.monotonic() + self.heartbeat.period)
        self._last_beat = (time.monotonic(), *self._thread_times())
        self._beat_at = time.monotonic()
        self.heartbeat.stop()  # (re)start on this loop, the first beat one period from now
        self.heartbeat.ensure_running(loop)
        self.state = "running"
        logger.info("loop monitor started on %s", self.loop_name)

    def stop(self) -> None:
        """Stop the heartbeat and the watchdog (which reports a block that just ended first)."""
        self.heartbeat.stop()
        if self._watchdog is not None and not self._watchdog.stop(timeout=1.0):
            logger.warning("the loop watchdog did not stop within 1s")
        if self._schedstat is not None:
            os.close(self._schedstat)
            self._schedstat = None
        for waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()
        if self.state == "running":
            self.state = "stopped"
        logger.info("loop monitor stopped")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoopMonitor]:
        """Run the monitor for the duration of the block (a component's lifespan)."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    async def settle(self) -> None:
        """Wait for the next heartbeat, so a block that just ended has been measured."""
        if self._loop is None or self.state != "running":
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(waiter, SETTLE_SECONDS)
        # the watchdog turns a late beat into an event on its next tick
        for _ in range(math.ceil(SETTLE_SECONDS / self.config.watchdog_tick)):
            if not self._late:
                break
            await asyncio.sleep(self.config.watchdog_tick)

    def subscribe(self, listener: Callable[[BlockedEvent], None]) -> None:
        """Call `listener(event)` (from the watchdog thread) on every blocked event."""
        self._listeners.append(listener)

    # -- heartbeat (loop thread) ------------------------------------------------------------

    def _beat(self, loop_now: float, loop_lag: float) -> None:
        if self.state != "running":  # the shedder's beats before or after the monitor's life
            return
        now = time.monotonic()
        seq, due = self._beat_state
        lag = max(0.0, now - due)
        cpu, waited = self._thread_times()  # every beat: a late one's window is its own lag
        last_at, last_cpu, last_waited = self._last_beat
        self._last_beat = (now, cpu, waited)
        if lag >= self.config.block_threshold:  # queued before the new state is published
            cpu_ratio = (cpu - last_cpu) / max(now - last_at, 1e-9)
            runqueue = waited - last_waited if self._schedstat is not None else None
            self._late.append((seq + 1, lag, time.time(), now, cpu_ratio, runqueue))
            if self._watchdog is not None:
                self._watchdog.wake()
        self._beat_state = (seq + 1, now + self.heartbeat.period)
        self._beat_at = now
        # The evidence: one lag per interval (half a period early counts: beats drift by µs).
        if now - self._sampled_at >= self.config.interval - self.heartbeat.period / 2:
            self._sampled_at = now
            self._lags.append(lag)
            self.metrics.observe_lag(lag)
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _paused(self) -> None:
        """The heartbeat paused (idle): the watchdog rests until it resumes."""
        seq, _ = self._beat_state
        self._beat_state = (seq, time.monotonic() + _PAUSED_FOR)

    def _resumed(self) -> None:
        if self.state != "running":
            return
        seq, _ = self._beat_state
        now = time.monotonic()
        self._beat_state = (seq, now + self.heartbeat.period)
        self._last_beat = (now, *self._thread_times())
        if self._watchdog is not None:
            self._watchdog.wake()

    def _thread_times(self) -> tuple[float, float]:
        """The loop thread's CPU seconds and run-queue wait seconds (0 when unknown)."""
        if self._schedstat is not None:
            try:
                on_cpu, waited, _ = os.pread(self._schedstat, 128, 0).split()
                return int(on_cpu) / 1e9, int(waited) / 1e9
            except (OSError, ValueError):
                os.close(self._schedstat)
                self._schedstat = None
        return time.thread_time(), 0.0

    # -- events (watchdog thread) -----------------------------------------------------------

    def _record(self, event: BlockedEvent) -> None:
        if event.kind == "stall":
            with self._lock:
                self._stalls.append(event)
                self.stalls_total += 1
            self.metrics.stalls.inc()
            logger.warning(
                "event loop stalled for %.0f ms while its thread got %.0f%% of a CPU "
                "(throttling or starvation; no code was running)",
                event.duration * 1000,
                event.cpu_ratio * 100,
            )
            return
        label = event.culprit.label(self.root) if event.culprit else None
        with self._lock:
            self._events.append(event)
            self.blocked_total += 1
            self.blocked_seconds += event.duration
        self.metrics.record_block(event.duration, label)
        logger.warning(
            "event loop blocked for %.0f ms by %s (%d of %d samples)",
            event.duration * 1000,
            label or "code the watchdog could not sample (a C call or GC holding the GIL)",
            event.culprit_samples,
            event.samples,
        )
        for listener in self._listeners:
            listener(event)

    # -- evidence ---------------------------------------------------------------------------

    def events(self) -> list[BlockedEvent]:
        """Blocked events kept so far, oldest first."""
        with self._lock:
            return list(self._events)

    def stalls(self) -> list[BlockedEvent]:
        """Stalls kept so far (late heartbeats while the loop thread did not run), oldest first."""
        with self._lock:
            return list(self._stalls)

    def recent_events(self) -> list[BlockedEvent]:
        """Blocked events that ended within the window."""
        horizon = time.monotonic() - self.config.window
        return [e for e in self.events() if e.ended_monotonic >= horizon]

    def recent_stalls(self) -> list[BlockedEvent]:
        """Stalls that ended within the window."""
        horizon = time.monotonic() - self.config.window
        return [e for e in self.stalls() if e.ended_monotonic >= horizon]

    @property
    def healthy(self) -> bool:
        """True while the heartbeat is scheduled and the watchdog thread is alive."""
        watchdog = self._watchdog
        return self.state == "running" and watchdog is not None and watchdog.alive

    def heartbeat_age(self) -> float | None:
        """Seconds since the last heartbeat ran (any thread may ask), None when not running."""
        if self.state != "running":
            return None
        return max(0.0, time.monotonic() - self._beat_at)

    def wake(self, timeout: float) -> bool:
        """From another thread: whether the loop runs a callback posted now within `timeout`."""
        return self._loop is not None and wake_loop(self._loop, timeout)

    def blocked_now(self) -> float | None:
        """Seconds the loop has been blocked when a block is in progress, else None."""
        return self._watchdog.blocked_for() if self._watchdog is not None else None

    def lag_summary(self) -> dict[str, Any]:
        """p50, p99 and max lag (ms) over the window, and how many beats it holds."""
        lags = sorted(self._lags.copy())
        if not lags:
            return {"beats": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
        return {
            "beats": len(lags),
            "p50_ms": round(_percentile(lags, 0.5) * 1000, 2),
            "p99_ms": round(_percentile(lags, 0.99) * 1000, 2),
            "max_ms": round(lags[-1] * 1000, 2),
        }

    def watchdog_failure(self) -> str | None:
        return self._watchdog.failure if self._watchdog is not None else None
