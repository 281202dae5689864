"""The loop gate's metrics, on the service's own registry.

- `asyncio_event_loop_lag_seconds` (histogram, 1 ms … 5 s): heartbeat lateness.
- `asyncio_event_loop_lag_max_seconds` (gauge): the largest lag since the last scrape.
- `asyncio_event_loop_blocked_total{culprit}`: blocked events; the culprit label set is capped.
- `asyncio_event_loop_blocked_seconds_total`: time spent blocked.
- `asyncio_event_loop_stalls_total`: late heartbeats while the loop thread did not run at all.
- `hardened_offload_busy_threads`, `hardened_offload_abandoned_total`: the offload pool.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LAG_BUCKETS", "OTHER_CULPRIT", "LoopMetrics"]

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OTHER_CULPRIT = "__other__"
UNATTRIBUTED = "__unattributed__"
_MAX_NAME = "asyncio_event_loop_lag_max_seconds"
_MAX_DOC = "Largest event loop lag since the last scrape."


class _MaxSinceScrape(Collector):
    """A gauge that reports the largest value seen since it was last collected, then resets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._max = 0.0

    def update(self, value: float) -> None:
        if value > self._max:
            with self._lock:
                self._max = max(self._max, value)

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(_MAX_NAME, _MAX_DOC)]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            value, self._max = self._max, 0.0
        return [GaugeMetricFamily(_MAX_NAME, _MAX_DOC, value=value)]


class LoopMetrics:
    """Registers the loop metrics on `registry` and updates them (thread-safe)."""

    def __init__(self, registry: CollectorRegistry, *, max_culprit_labels: int) -> None:
        self.lag = Histogram(
            "asyncio_event_loop_lag_seconds",
            "Event loop lag: how late the heartbeat callback ran.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.lag_max = _MaxSinceScrape()
        registry.register(self.lag_max)
        self.blocked = Counter(
            "asyncio_event_loop_blocked",
            "Times the event loop was blocked past the threshold, by culprit (capped label set).",
            ["culprit"],
            registry=registry,
        )
        self.blocked_seconds = Counter(
            "asyncio_event_loop_blocked_seconds",
            "Seconds the event loop spent blocked past the threshold.",
            registry=registry,
        )
        self.stalls = Counter(
            "asyncio_event_loop_stalls",
            "Late heartbeats while the loop thread did not run (CPU throttling or starvation).",
            registry=registry,
        )
        self.offload_busy = Gauge(
            "hardened_offload_busy_threads",
            "offload() calls holding a pool thread now.",
            registry=registry,
        )
        self.offload_abandoned = Counter(
            "hardened_offload_abandoned",
            "offload() calls whose caller stopped waiting at the deadline.",
            registry=registry,
        )
        self._max_culprits = max_culprit_labels
        self._culprits: set[str] = set()
        self._lock = threading.Lock()

    def observe_lag(self, lag: float) -> None:
        self.lag.observe(lag)
        self.lag_max.update(lag)

    def culprit_label(self, label: str | None) -> str:
        """`label` while the label set has room (or already holds it), else `__other__`."""
        if label is None:
            return UNATTRIBUTED
        with self._lock:
            if label in self._culprits:
                return label
            if len(self._culprits) < self._max_culprits:
                self._culprits.add(label)
                return label
        return OTHER_CULPRIT

    def record_block(self, seconds: float, culprit: str | None) -> None:
        self.blocked.labels(culprit=self.culprit_label(culprit)).inc()
        self.blocked_seconds.inc(seconds)
