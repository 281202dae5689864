"""RED metrics: the families, their series budget, the SLO trackers they feed.

Per request (through the observe stage, `_stage.py`): two cached label children
(counter and histogram), the active count, one clock read at each end, and one ring update per
SLO — a few microseconds. The duration is measured to the last body byte; shed 503s and every
error below are counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hardened.faults import CALLER, STATUS_CLIENT_CLOSED
from hardened.observe._cells import (
    CountedTiming,
    CounterCell,
    CounterCells,
    HistogramCell,
    HistogramCells,
)
from hardened.observe._config import SLO, ObserveConfig
from hardened.observe._multiprocess import multiprocess_dir
from hardened.observe._series import BoundedChildren
from hardened.observe._slo import SLOTracker
from hardened.routes import OVERFLOW

__all__ = ["STATUS_CLIENT_CLOSED", "RedMetrics", "trace_id_of"]

_STATUS_CLASS = [f"{code // 100}xx" if 100 <= code <= 599 else "_OTHER" for code in range(600)]
_STATUS = [str(code) if 100 <= code <= 599 else "_OTHER" for code in range(600)]


def _status_labels(status: int) -> tuple[str, str]:
    if 0 <= status < 600:
        return _STATUS[status], _STATUS_CLASS[status]
    return "_OTHER", "_OTHER"


_HEX = frozenset(b"0123456789abcdef")
_NO_TRACE = b"0" * 32


def trace_id_of(traceparent: bytes) -> str | None:
    """The trace id of a W3C `traceparent` header value: 32 lower-case hex digits, not all
    zero (W3C Trace Context §3.2.2.3); None otherwise, so junk never becomes an exemplar."""
    parts = traceparent.split(b"-")
    if len(parts) < 4:
        return None
    trace_id = parts[1]
    if len(trace_id) != 32 or trace_id == _NO_TRACE or not _HEX.issuperset(trace_id):
        return None
    return trace_id.decode("ascii")


class _ActiveCollector(Collector):
    def __init__(self, metrics: RedMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("http_server_active_requests", "Requests being served now.")
        family.add_metric([], self._metrics.active)
        yield family


class RedMetrics:
    """The RED families on a service registry, with a series budget per metric."""

    def __init__(
        self,
        registry: CollectorRegistry,
        config: ObserveConfig,
        slos: tuple[SLO, ...],
    ) -> None:
        self.config = config
        self.buckets = config.buckets_for(slos)
        self.overflow = Counter(
            "metrics_cardinality_overflow",
            "Observations sent to the __overflow__ series because a metric hit its budget.",
            ["metric"],
            registry=registry,
        )
        requests_doc = "HTTP requests by method, route template and exact status."
        duration_doc = "Time to the last response byte, by method, route template and status class."
        self.requests: Any
        self.duration: Any
        if multiprocess_dir() is not None:  # per-process files, merged at scrape time
            self.requests = Counter(
                "http_server_requests",
                requests_doc,
                ["method", "route", "status"],
                registry=registry,
            )
            self.duration = Histogram(
                "http_server_request_duration_seconds",
                duration_doc,
                ["method", "route", "status_class"],
                buckets=self.buckets,
                registry=registry,
            )
        else:  # the same samples from lock-free cells
            self.requests = CounterCells(
                "http_server_requests", requests_doc, ["method", "route", "status"], registry
            )
            self.duration = HistogramCells(
                "http_server_request_duration_seconds",
                duration_doc,
                ["method", "route", "status_class"],
                registry,
                self.buckets,
            )
        # In-flight count: a plain int read at scrape time (no lock per request); in
        # multiprocess mode a livesum Gauge, since custom collectors are not merged there.
        self.active = 0
        self.active_gauge: Gauge | None = None
        if multiprocess_dir() is not None:
            self.active_gauge = Gauge(
                "http_server_active_requests",
                "Requests being served now.",
                registry=registry,
                multiprocess_mode="livesum",
            )
        else:
            registry.register(_ActiveCollector(self))
        budget = config.series_budget
        self.request_children: BoundedChildren[Any] = BoundedChildren(
            self.requests, "http_server_requests_total", budget, self.overflow
        )
        self.duration_children: BoundedChildren[Any] = BoundedChildren(
            self.duration, "http_server_request_duration_seconds", budget, self.overflow
        )
        self.trackers = tuple(SLOTracker(slo) for slo in slos)
        # (method, route, status) → one call counting and timing a request (no exemplar).
        # Public for the edge, which calls the remembered function itself.
        self.known: dict[tuple[str, str, int], Callable[[float], None]] = {}

    def record(
        self,
        *,
        method: str,
        route: str,
        status: int,
        duration: float,
        now: float,
        trace_id: str | None = None,
    ) -> None:
        """Count one finished request (also the entry point of synthetic-stream tests)."""
        self.observe(method, route, status, duration, now, trace_id=trace_id)

    def observe(
        self,
        method: str,
        route: str,
        status: int,
        duration: float,
        now: float,
        *,
        trace_id: str | None = None,
    ) -> None:
        """`record` with positional arguments: the edge's call, once per request."""
        if trace_id is None:
            counted_timing = self.known.get((method, route, status))
            if counted_timing is None:
                counted_timing = self._remember(method, route, status)
            counted_timing(duration)
        else:
            count, time_it = self._cells_for(method, route, status)
            count()
            time_it(duration, {"trace_id": trace_id})
        if route == CALLER:
            return  # the caller spent its own budget: no SLO counts it (hardened.faults)
        for tracker in self.trackers:
            routes = tracker.slo.routes
            if not routes or route in routes:
                tracker.record(now, tracker.slo.is_good(status, duration))

    def _cells_for(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """`inc` and `observe` of a request's counter and histogram children (the overflow
        series' once a metric is over its budget)."""
        status_label, status_class = _status_labels(status)
        overflow_labels = (method, OVERFLOW, status_class)
        counted = self.request_children.child((method, route, status_label), overflow_labels)
        timed = self.duration_children.child((method, route, status_class), overflow_labels)
        return counted.inc, timed.observe

    def _remember(self, method: str, route: str, status: int) -> Callable[[float], None]:
        """The one call that counts and times a request of this label set, remembered while
        its series are within budget (an over-budget request counts an overflow each time)."""
        count, time_it = self._cells_for(method, route, status)
        counted_timing: Callable[[float], None]
        counter, histogram = getattr(count, "__self__", None), getattr(time_it, "__self__", None)
        if isinstance(counter, CounterCell) and isinstance(histogram, HistogramCell):
            counted_timing = CountedTiming(
                counter, histogram
            ).record  # a bound method: cheapest call
        else:  # prometheus-client children (multiprocess mode)

            def counted_timing(duration: float) -> None:
                count()
                time_it(duration)

        status_label, status_class = _status_labels(status)
        if (
            (method, route, status_label) in self.request_children
            and (method, route, status_class) in self.duration_children
            and len(self.known) < self.config.series_budget
        ):
            self.known[(method, route, status)] = counted_timing
        return counted_timing

    def series(self) -> dict[str, int]:
        """Label sets in use per metric (the budget applies to each)."""
        return {
            self.request_children.name: len(self.request_children),
            self.duration_children.name: len(self.duration_children),
        }
