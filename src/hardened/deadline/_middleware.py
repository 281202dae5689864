"""The deadline slot: set the request's budget once, refuse late arrivals, answer 504 when spent.

Budget = the route's own timeout or the service default, lowered by an inbound
`X-Request-Timeout` / `grpc-timeout`. The application runs under that deadline until its
response starts (then it is released: the status is out); expiry cancels the handler's task
and answers 504. Requests on the service budget share one loop timer (see `_expiry`); a
route's or caller's budget gets a loop timer of its own (cheaper than `asyncio.timeout`).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from hardened.clock import Clock, SystemClock
from hardened.deadline._budget import _CURRENT, Budget, new_budget
from hardened.deadline._config import ROUTE_TIMEOUT_ATTRIBUTE, DeadlineConfig
from hardened.deadline._expiry import EXPIRED, LIVE, ExpiryQueue
from hardened.deadline._headers import parse_grpc_timeout, parse_request_timeout
from hardened.errors import DeadlineExceeded
from hardened.lifecycle.routes import RouteOverrides
from hardened.problems import send_error
from hardened.stack import track

if TYPE_CHECKING:
    from hardened.service import Service

__all__ = ["DeadlineLayer", "DeadlineMiddleware", "DeadlineStats"]


class DeadlineStats:
    """Counters the gate and the metrics read (plain integers: nothing allocated per request)."""

    __slots__ = ("by_source", "expired", "malformed_header", "refused_late")

    def __init__(self) -> None:
        self.by_source = {"service": 0, "route": 0, "header": 0}
        self.expired = 0
        self.refused_late = 0
        self.malformed_header = 0


def _expire(entry: list[Any]) -> None:
    """A request's own timer fired: cancel its handler unless the response already started."""
    task: asyncio.Task[Any] = entry[1]
    if not entry[2].status and not task.done():
        entry[3] = EXPIRED
        task.cancel()


class DeadlineMiddleware:
    """Pure ASGI: one absolute deadline per request, in the ContextVar `remaining()` reads."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: DeadlineConfig,
        clock: Clock,
        stats: DeadlineStats,
        routes_of: ASGIApp | None = None,
    ) -> None:
        self.app = app
        self._default = config.default_timeout
        self._inbound = config.accept_inbound
        self._clock = clock
        # The system clock's method is time.monotonic itself: call the C function directly.
        self._now = time.monotonic if isinstance(clock, SystemClock) else clock.monotonic
        self._stats = stats
        self._routes_of = routes_of if routes_of is not None else app
        self.overrides: RouteOverrides | None = None
        self._has_overrides = False
        self._expiry = ExpiryQueue(self._default)  # the requests on the service budget

    def _budget_for(self, scope: Scope) -> tuple[float, str] | None:
        """(seconds, source) of this request's budget; None when it arrived already spent."""
        timeout, source = self._default, "service"
        overrides = self.overrides
        if overrides is None:
            overrides = self.overrides = RouteOverrides(self._routes_of, ROUTE_TIMEOUT_ATTRIBUTE)
            self._has_overrides = bool(overrides)
        if self._has_overrides:
            route_value = overrides.lookup(scope)
            if route_value is not None:
                timeout, source = route_value, "route"
        if not self._inbound:
            return timeout, source
        for name, value in scope["headers"]:
            if name == b"x-request-timeout":
                inbound = parse_request_timeout(value)
            elif name == b"grpc-timeout":
                inbound = parse_grpc_timeout(value)
            else:
                continue
            if inbound is None:
                self._stats.malformed_header += 1
            elif inbound <= 0:
                return None
            elif inbound < timeout:
                timeout, source = inbound, "header"
        return timeout, source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = self._now()
        chosen = self._budget_for(scope)
        if chosen is None:
            self._stats.refused_late += 1
            late = DeadlineExceeded("the request arrived with its budget already spent")
            await send_error(scope, receive, send, late)
            return
        timeout, source = chosen
        self._stats.by_source[source] += 1
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - ASGI servers run each request in a task
            await self.app(scope, receive, send)
            return
        # Once the response has started, expiry is a no-op (the status is out). Requests on
        # the service budget share one timer; a route or caller budget gets its own.
        response = track(send)
        handle = None
        if source == "service":
            entry = self._expiry.add(task.get_loop(), task, response)
        else:
            entry = [0.0, task, response, LIVE]
            handle = task.get_loop().call_later(timeout, _expire, entry)
        token = _CURRENT.set(new_budget(Budget, (now + timeout, source, self._clock)))
        try:
            await self.app(scope, receive, response)
        except asyncio.CancelledError:
            if entry[3] != EXPIRED:
                raise
            task.uncancel()
            self._stats.expired += 1
            spent = DeadlineExceeded(f"the {source} budget of {timeout:g}s was spent")
            if response.status:
                raise spent from None
            await send_error(scope, receive, send, spent)
        finally:
            if handle is None:
                self._expiry.finish(entry)
            else:
                handle.cancel()
            _CURRENT.reset(token)


class DeadlineLayer:
    """Fills the `deadline` slot of the fixed middleware order."""

    slot = "deadline"

    def __init__(self, config: DeadlineConfig, service: Service, stats: DeadlineStats) -> None:
        self._config = config
        self._service = service
        self._stats = stats
        self.middleware: DeadlineMiddleware | None = None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        self.middleware = DeadlineMiddleware(
            app,
            config=self._config,
            clock=self._service.clock,
            stats=self._stats,
            routes_of=self._service.app,
        )
        return self.middleware
