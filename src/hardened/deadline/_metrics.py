"""Deadline state as Prometheus metrics, read from the counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hardened.deadline._config import DeadlineConfig
from hardened.deadline._middleware import DeadlineStats

__all__ = ["DeadlineCollector"]


class DeadlineCollector(Collector):
    """Budgets set by source, budgets spent (504), late arrivals refused."""

    def __init__(self, config: DeadlineConfig, stats: DeadlineStats) -> None:
        self._config = config
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self._stats
        yield GaugeMetricFamily(
            "hardened_deadline_default_seconds",
            "The service's request budget.",
            value=self._config.default_timeout,
        )
        by_source = CounterMetricFamily(
            "hardened_deadline_requests",
            "Requests by the source of the budget in force.",
            labels=["source"],
        )
        for source, count in stats.by_source.items():
            by_source.add_metric([source], count)
        yield by_source
        yield CounterMetricFamily(
            "hardened_deadline_exceeded",
            "Requests answered 504 because their budget was spent.",
            value=stats.expired,
        )
        yield CounterMetricFamily(
            "hardened_deadline_refused_late",
            "Requests refused before any work: they arrived with no budget left.",
            value=stats.refused_late,
        )
