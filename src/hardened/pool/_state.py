"""Pool state: what each acquire and release records, and its Prometheus families.

Recording is plain arithmetic on slots (no lock, no allocation): the counters, the wait
histogram's buckets, a ring of recent hold times (for the p99 the sizing check uses) and the
acquires of each second (for the observed peak rate). The scrape thread reads them as they are.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["WAIT_BUCKETS", "PoolCollector", "PoolStats"]

WAIT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
HOLD_SAMPLES = 1024  # recent holds kept for the p99 (a power of two: the index wraps by mask)
RATE_WINDOW = 300  # seconds of per-second acquire counts kept for the peak rate


class PoolStats:
    """Counters and recent samples of one pool."""

    __slots__ = (
        "_holds",
        "_index",
        "_per_second",
        "_second",
        "_second_count",
        "acquire_timeouts",
        "acquires",
        "closed",
        "connect_errors",
        "holds",
        "in_use",
        "max_size",
        "opened",
        "peak_in_use",
        "wait_counts",
        "wait_sum",
        "waiting",
    )

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.in_use = 0  # permits taken: connections checked out or being reset
        self.waiting = 0
        self.peak_in_use = 0
        self.acquires = 0
        self.acquire_timeouts = 0
        self.connect_errors = 0
        self.opened = 0  # connections opened to the server, since start
        self.closed = 0  # connections closed: broken, idle too long, or at shutdown
        self.holds = 0
        self.wait_counts = [0] * (len(WAIT_BUCKETS) + 1)
        self.wait_sum = 0.0
        self._holds = [0.0] * HOLD_SAMPLES
        self._index = 0
        self._second = 0
        self._second_count = 0
        self._per_second: deque[tuple[int, int]] = deque(maxlen=RATE_WINDOW)

    def acquired(self, waited: float, now: float) -> None:
        """One acquire succeeded after `waited` seconds, at monotonic `now`."""
        self.acquires += 1
        if waited <= WAIT_BUCKETS[0]:  # a free connection: the usual case, no search
            self.wait_counts[0] += 1
        else:
            self.wait_counts[bisect.bisect_left(WAIT_BUCKETS, waited)] += 1
        self.wait_sum += waited
        second = int(now)
        if second != self._second:
            if self._second_count:
                self._per_second.append((self._second, self._second_count))
            self._second, self._second_count = second, 0
        self._second_count += 1

    def released(self, held: float) -> None:
        """One connection went back after being held `held` seconds."""
        self._holds[self._index] = held
        self._index = (self._index + 1) & (HOLD_SAMPLES - 1)
        self.holds += 1

    def hold_p99(self) -> float | None:
        """p99 of the recent hold times (None before the first release)."""
        count = min(self.holds, HOLD_SAMPLES)
        if not count:
            return None
        ordered = sorted(self._holds[:count])
        return ordered[min(count - 1, math.ceil(0.99 * count) - 1)]

    def peak_rate(self, now: float) -> int:
        """The most acquires in one second over the last `RATE_WINDOW` seconds."""
        horizon = int(now) - RATE_WINDOW
        seconds = [(self._second, self._second_count), *self._per_second]
        return max((count for second, count in seconds if second > horizon), default=0)

    def wait_quantile(self, q: float) -> float | None:
        """The upper bound of the wait bucket holding quantile `q` (None before any acquire)."""
        total = sum(self.wait_counts)
        if not total:
            return None
        rank, seen = q * total, 0
        for bound, count in zip((*WAIT_BUCKETS, math.inf), self.wait_counts, strict=True):
            seen += count
            if seen >= rank:
                return bound
        return math.inf  # pragma: no cover - the last bucket always reaches the total


class _Reports(Protocol):
    """A pool whose stats the collector reads."""

    @property
    def name(self) -> str: ...

    @property
    def stats(self) -> PoolStats: ...

    def idle(self) -> int: ...


class PoolCollector(Collector):
    """The `hardened_pool_*` families for every pool of one service."""

    def __init__(self, pools: Callable[[], Iterable[_Reports]]) -> None:
        self._pools = pools

    def collect(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "hardened_pool_connections", "Pool connections by state.", labels=["pool", "state"]
        )
        max_size = GaugeMetricFamily("hardened_pool_max_size", "The pool's bound.", labels=["pool"])
        waiting = GaugeMetricFamily(
            "hardened_pool_waiting", "Acquires waiting for a free connection.", labels=["pool"]
        )
        timeouts = CounterMetricFamily(
            "hardened_pool_acquire_timeouts",
            "Acquires refused because no connection became free in time.",
            labels=["pool"],
        )
        wait = HistogramMetricFamily(
            "hardened_pool_acquire_wait_seconds",
            "Time to obtain a connection.",
            labels=["pool"],
        )
        for pool in self._pools():
            stats = pool.stats
            connections.add_metric([pool.name, "in_use"], stats.in_use)
            connections.add_metric([pool.name, "idle"], pool.idle())
            max_size.add_metric([pool.name], stats.max_size)
            waiting.add_metric([pool.name], stats.waiting)
            timeouts.add_metric([pool.name], stats.acquire_timeouts)
            cumulative, buckets = 0, []
            for bound, count in zip((*WAIT_BUCKETS, math.inf), stats.wait_counts, strict=True):
                cumulative += count
                buckets.append((_le(bound), float(cumulative)))
            wait.add_metric([pool.name], buckets, stats.wait_sum)
        yield from (connections, max_size, waiting, timeouts, wait)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)
