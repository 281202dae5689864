"""Lifecycle state as Prometheus metrics, read from counters at scrape time (no hot-path cost)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hardened.lifecycle.config import LifecycleConfig
from hardened.lifecycle.edge import EdgeStats, SlowClientStats

__all__ = ["LifecycleCollector"]


class LifecycleCollector(Collector):
    """In-flight requests and their bound, edge rejections, slow-client closes."""

    def __init__(
        self,
        config: LifecycleConfig,
        stats: EdgeStats,
        slow_clients: Callable[[], SlowClientStats | None],
    ) -> None:
        self._config = config
        self._stats = stats
        self._slow_clients = slow_clients

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self._stats
        yield GaugeMetricFamily(
            "hardened_http_in_flight_requests",
            "Requests being handled now (probes excluded).",
            value=stats.in_flight,
        )
        yield GaugeMetricFamily(
            "hardened_http_in_flight_limit",
            "Bound on requests in flight before 503 + Retry-After.",
            value=self._config.max_in_flight,
        )
        rejected = CounterMetricFamily(
            "hardened_edge_rejections",
            "Requests refused at the lifecycle layer, by reason.",
            labels=["reason"],
        )
        rejected.add_metric(["in_flight_limit"], stats.rejected_busy)
        rejected.add_metric(["body_declared_too_large"], stats.rejected_declared)
        rejected.add_metric(["body_stopped_at_limit"], stats.stopped)
        yield rejected
        slow = self._slow_clients()
        if slow is None:
            return
        closes = CounterMetricFamily(
            "hardened_slow_client_closes",
            "Connections closed by the header or body read timeout.",
            labels=["phase"],
        )
        closes.add_metric(["header"], slow.header_timeouts)
        closes.add_metric(["body"], slow.body_timeouts)
        yield closes
        yield CounterMetricFamily(
            "hardened_lingering_closes",
            "Connections half-closed after a refused upload so the client reads the answer.",
            value=slow.lingered,
        )
