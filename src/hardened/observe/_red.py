"""RED metrics and the pure ASGI middleware of the `observe` slot (outermost in the stack).

Per request: two cached label children (counter and histogram), the active gauge, one
monotonic read at each end, and one ring update per SLO — a few microseconds. The duration is
measured to the last body byte; shed 503s and every error below are counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from hardened.observe._cells import CounterCells, HistogramCells
from hardened.observe._config import SLO, ObserveConfig
from hardened.observe._multiprocess import multiprocess_dir
from hardened.observe._routes import OVERFLOW, STANDARD_METHODS, RouteTemplates
from hardened.observe._series import BoundedChildren
from hardened.observe._slo import SLOTracker
from hardened.stack import track

__all__ = ["STATUS_CLIENT_CLOSED", "ObserveLayer", "RedMetrics", "RedMiddleware"]

# nginx's code for a client that went away before the answer; never an SLO error.
STATUS_CLIENT_CLOSED = 499
_STATUS_CLASS = [f"{code // 100}xx" if 100 <= code <= 599 else "_OTHER" for code in range(600)]
_STATUS = [str(code) if 100 <= code <= 599 else "_OTHER" for code in range(600)]


def _status_labels(status: int) -> tuple[str, str]:
    if 0 <= status < 600:
        return _STATUS[status], _STATUS_CLASS[status]
    return "_OTHER", "_OTHER"


def _trace_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"traceparent":
            parts = value.split(b"-")
            if len(parts) >= 4 and len(parts[1]) == 32 and parts[1] != b"0" * 32:
                trace: str = parts[1].decode("latin-1")
                return trace
            return None
    return None


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
        # (method, route, status) → (counter inc, histogram observe): one lookup per request.
        self._known: dict[tuple[str, str, int], tuple[Any, Any]] = {}

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
        """`record` with positional arguments: the middleware's call, once per request."""
        known = self._known.get((method, route, status))
        if known is None:
            count, time_it = self._cells_for(method, route, status)
        else:
            count, time_it = known
        count()
        if trace_id is None:
            time_it(duration)
        else:
            time_it(duration, {"trace_id": trace_id})
        for tracker in self.trackers:
            routes = tracker.slo.routes
            if not routes or route in routes:
                tracker.record(now, tracker.slo.is_good(status, duration))

    def _cells_for(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """`inc` and `observe` of a request's counter and histogram children, remembered
        (bound, so a request does no attribute lookup) while its label sets are in budget."""
        status_label, status_class = _status_labels(status)
        counted_labels = (method, route, status_label)
        timed_labels = (method, route, status_class)
        overflow_labels = (method, OVERFLOW, status_class)
        counted = self.request_children.child(counted_labels, overflow_labels)
        timed = self.duration_children.child(timed_labels, overflow_labels)
        # An over-budget label set is not remembered: each of its requests counts an overflow.
        if (
            counted_labels in self.request_children
            and timed_labels in self.duration_children
            and len(self._known) < self.config.series_budget
        ):
            self._known[(method, route, status)] = (counted.inc, timed.observe)
        return counted.inc, timed.observe

    def enter(self) -> None:
        """One more request in flight."""
        self.active += 1
        if self.active_gauge is not None:
            self.active_gauge.inc()

    def leave(self) -> None:
        """One request fewer in flight."""
        self.active -= 1
        if self.active_gauge is not None:
            self.active_gauge.dec()

    def series(self) -> dict[str, int]:
        """Label sets in use per metric (the budget applies to each)."""
        return {
            self.request_children.name: len(self.request_children),
            self.duration_children.name: len(self.duration_children),
        }


class RedMiddleware:
    """Times every HTTP request below it and records RED metrics and SLO events."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: RedMetrics,
        routes: RouteTemplates,
        monotonic: Callable[[], float],
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = routes
        self._monotonic = monotonic
        self._exemplars = metrics.config.exemplars
        self._gauge = metrics.active_gauge  # multiprocess mode only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self._metrics
        gauge = self._gauge
        started = self._monotonic()
        response = track(send)
        cancelled = False
        metrics.active += 1  # enter(), inlined
        if gauge is not None:
            gauge.inc()
        try:
            await self.app(scope, receive, response)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            metrics.active -= 1  # leave(), inlined
            if gauge is not None:
                gauge.dec()
            ended = self._monotonic()
            method = scope["method"]
            metrics.observe(
                method if method in STANDARD_METHODS else "_OTHER",
                self._routes.template(scope),
                response.status or (STATUS_CLIENT_CLOSED if cancelled else 500),
                ended - started,
                ended,
                trace_id=_trace_id(scope) if self._exemplars else None,
            )


class ObserveLayer:
    """The `observe` slot: RED timing of everything below it."""

    slot = "observe"

    def __init__(
        self, metrics: RedMetrics, routes: RouteTemplates, monotonic: Callable[[], float]
    ) -> None:
        self.metrics = metrics
        self.routes = routes
        self._monotonic = monotonic

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return RedMiddleware(
            app, metrics=self.metrics, routes=self.routes, monotonic=self._monotonic
        )
