"""The observe stage, outermost: RED timing of everything below it, refusals included.

One clock read at each end (the driver's), the active count, and one remembered call that counts
and times the request for its (method, route template, status) — a few microseconds.
"""

from __future__ import annotations

from starlette.types import Scope

from hardened.clock import Clock
from hardened.faults import CLIENT_FAULT, recorded
from hardened.observe._red import RedMetrics, trace_id_of
from hardened.routes import STANDARD_METHODS, RouteTemplates, method_label
from hardened.stages import Exchange, Stage

__all__ = ["ObserveStage"]

_TRACEPARENT = b"traceparent"


class ObserveStage(Stage):
    """Fills the `observe` slot of the fixed order."""

    slot = "observe"

    def __init__(self, metrics: RedMetrics, routes: RouteTemplates, clock: Clock) -> None:
        self.metrics = metrics
        self.routes = routes
        self.clock = clock
        self._monotonic = clock.monotonic
        self.headers = (_TRACEPARENT,) if metrics.config.exemplars else ()
        self._gauge = metrics.active_gauge

    def enter(self, exchange: Exchange) -> None:
        self.metrics.active += 1
        if self._gauge is not None:
            self._gauge.inc()

    def exit(self, exchange: Exchange, state: None) -> None:
        red = self.metrics
        red.active -= 1
        if self._gauge is not None:
            self._gauge.dec()
        scope = exchange.scope
        method = scope["method"]
        if method not in STANDARD_METHODS:
            method = "_OTHER"
        routes = self.routes
        route = routes.single.get(id(scope.get("route")))  # `template`'s common case
        if route is None:
            route = routes.template(scope)
        status = exchange.status
        if not status or CLIENT_FAULT in scope:  # the status policy (hardened.faults)
            status, route = recorded(scope, status, route, cancelled=exchange.cancelled)
        duration = exchange.ended - exchange.started
        trace = exchange.headers.get(_TRACEPARENT) if exchange.headers else None
        counted_timing = red.known.get((method, route, status))
        if counted_timing is not None and trace is None and not red.trackers:
            counted_timing(duration)  # the common case, without a call to observe
        else:
            trace_id = trace_id_of(trace) if trace is not None else None
            red.observe(method, route, status, duration, exchange.ended, trace_id=trace_id)

    def answered(self, scope: Scope, status: int, duration: float) -> None:
        """Count a request the server answered before the stack ran (a shed refusal taken at
        headers-complete) as `exit` counts one refused inside the stack."""
        route = self.routes.template(scope)
        if CLIENT_FAULT in scope:  # a caller's spent budget: 504 on __caller__
            status, route = recorded(scope, status, route, cancelled=False)
        self.metrics.observe(
            method_label(scope["method"]), route, status, duration, self._monotonic()
        )
