"""The outer slots fused: observe → shed → deadline → lifecycle (→ error mapping) in one frame.

The default layers of these slots are stages of one request path rather than four middlewares:
one frame, one scan of the headers, one clock read at each end, one response tracker. Chained,
the same work cost about twice as much per request (see benchmarks/edge_overhead). Each stage
keeps its slot's semantics and order (MIDDLEWARE_ORDER); a stage left out is skipped, and
`build_stack` keeps any other layer as its own middleware between fused runs. When nothing sits
between the lifecycle stage and the application, the edge also maps a `HardenedError` escaping
the application to its problem+json answer (the innermost `ErrorMapping`). A request the
shutdown's drain timeout cuts before its response started is answered 503
(`ShutdownInterrupted`) rather than left to the server's 500.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hardened.clock import SystemClock
from hardened.deadline._budget import _CURRENT, Budget, new_budget
from hardened.deadline._config import ROUTE_TIMEOUT_ATTRIBUTE
from hardened.deadline._expiry import EXPIRED, Exchange, ExpiryQueue, expire
from hardened.deadline._headers import parse_grpc_timeout, parse_request_timeout
from hardened.errors import (
    DRAIN_CANCEL_MESSAGE,
    BodyTooLarge,
    ConfigError,
    DeadlineExceeded,
    HardenedError,
    RejectedError,
    ShutdownInterrupted,
)
from hardened.lifecycle.config import BODY_LIMIT_ATTRIBUTE
from hardened.lifecycle.routes import RouteOverrides
from hardened.observe._red import STATUS_CLIENT_CLOSED, trace_id_of
from hardened.observe._routes import STANDARD_METHODS
from hardened.problems import send_error

if TYPE_CHECKING:
    from hardened.deadline._layer import DeadlineLayer
    from hardened.lifecycle.edge import LifecycleLayer
    from hardened.observe._red import ObserveLayer
    from hardened.shed._middleware import Shedder

__all__ = ["FusedEdge"]

# What the one header scan looks for (a dict lookup per header).
_LENGTH, _CHUNKED, _TIMEOUT, _GRPC_TIMEOUT, _PRIORITY, _TRACE = range(1, 7)
_CLOSE = (b"connection", b"close")
# The C function behind get_running_loop(), minus its None check: a coroutine runs on a loop.
_running_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio._get_running_loop  # type: ignore[assignment]


def _caller_budget(values: list[tuple[int, bytes]]) -> tuple[float | None, int]:
    """The nearest of the caller's timeout headers (seconds) and how many were malformed."""
    nearest: float | None = None
    malformed = 0
    for field, value in values:
        seconds = parse_request_timeout(value) if field == _TIMEOUT else parse_grpc_timeout(value)
        if seconds is None:
            malformed += 1
        elif nearest is None or seconds < nearest:
            nearest = seconds
    return nearest, malformed


def _task_lookup(loop: asyncio.AbstractEventLoop) -> Callable[..., asyncio.Task[Any] | None]:
    """`asyncio.current_task(loop)` without its Python frame, where the interpreter keeps the
    table that function reads (CPython 3.11 to 3.13); checked once, else the public function."""
    table = getattr(asyncio.tasks, "_current_tasks", None)
    current = asyncio.current_task(loop)
    if isinstance(table, dict) and current is not None and table.get(loop) is current:
        lookup: Callable[..., asyncio.Task[Any] | None] = table.get
        return lookup
    return asyncio.current_task


class _BodyCounter:
    """Counts a request body while the application reads it; stops it past the limit."""

    __slots__ = ("limit", "receive", "received", "send", "stats", "tripped")

    def __init__(self, receive: Receive, send: Send, limit: int, stats: Any) -> None:
        self.receive = receive
        self.send = send
        self.limit = limit
        self.stats = stats
        self.received = 0
        self.tripped = False

    def too_large(self) -> BodyTooLarge:
        return BodyTooLarge(f"the body passed the limit of {self.limit} bytes")

    async def counting_receive(self) -> Message:
        if self.tripped:
            raise self.too_large()
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.tripped = True
                self.stats.stopped += 1
                raise self.too_large()
        return message

    async def closing_send(self, message: Message) -> None:
        """After the limit tripped, the response closes the connection (the rest is unread)."""
        if self.tripped and message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if _CLOSE not in headers:
                headers.append(_CLOSE)
            message = {**message, "headers": headers}
        await self.send(message)


class FusedEdge:
    """Pure ASGI: the stages given (any subset of the four), in the fixed order, in one frame."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        observe: ObserveLayer | None = None,
        shed: Shedder | None = None,
        deadline: DeadlineLayer | None = None,
        lifecycle: LifecycleLayer | None = None,
        map_errors: bool = False,
    ) -> None:
        self.app = app
        self._map_errors = map_errors
        wanted: dict[bytes, int] = {}
        clocks = [stage.clock for stage in (observe, deadline) if stage is not None]
        clock = clocks[0] if clocks else SystemClock()
        if any(other is not clock for other in clocks):
            raise ConfigError("the observe and deadline stages must share one clock")
        # The system clock's method is time.monotonic itself: call the C function directly.
        self._now = time.monotonic if isinstance(clock, SystemClock) else clock.monotonic
        self._clock = clock
        self._real_time = self._now is time.monotonic

        self._red = observe.metrics if observe is not None else None
        self._routes = observe.routes if observe is not None else None
        if self._red is not None and self._red.config.exemplars:
            wanted[b"traceparent"] = _TRACE

        self._shed = shed
        self._exempt: tuple[str, ...] = ()
        if shed is not None:
            self._exempt = shed.config.exempt_paths
            if shed.config.priority_header:
                wanted[shed.config.priority_header.encode()] = _PRIORITY

        self._deadline = deadline
        self._inbound = deadline is not None and deadline.config.accept_inbound
        if self._inbound or (shed is not None and shed.config.drop_late):
            wanted[b"x-request-timeout"] = _TIMEOUT
            wanted[b"grpc-timeout"] = _GRPC_TIMEOUT
        if deadline is not None:
            self._default_timeout = deadline.config.default_timeout
            self._expiry = ExpiryQueue(self._default_timeout)
        # `@route_timeout` marks, found at the first request (the routes are final then);
        # False when no route has one.
        self._timeouts: RouteOverrides | Literal[False] | None = None

        self._lifecycle = lifecycle
        if lifecycle is not None:
            wanted[b"content-length"] = _LENGTH
            wanted[b"transfer-encoding"] = _CHUNKED
        self._body_limits: RouteOverrides | None = None
        self._wanted = wanted
        self._task_of: Callable[..., asyncio.Task[Any] | None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0912, PLR0915 - one frame on purpose
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One pass over the headers for everything the stages read.
        length: bytes | None = None
        chunked = False
        priority: bytes | None = None
        trace: bytes | None = None
        timeouts: list[tuple[int, bytes]] | None = None
        wanted = self._wanted
        for name, value in scope["headers"]:
            field = wanted.get(name)
            if field is None:
                continue
            if field == _LENGTH:
                length = value
            elif field == _CHUNKED:
                chunked = True
            elif field == _PRIORITY:
                priority = value
            elif field == _TRACE:
                trace = value
            elif timeouts is None:
                timeouts = [(field, value)]
            else:
                timeouts.append((field, value))
        caller: float | None = None
        malformed = 0
        if timeouts is not None:
            caller, malformed = _caller_budget(timeouts)

        now = self._now()
        loop = _running_loop()
        red = self._red
        if red is not None:
            red.active += 1
            if red.active_gauge is not None:
                red.active_gauge.inc()
        response = Exchange(send)
        shed = self._shed
        shed_started: float | None = None
        cancelled = False
        try:
            # -- shed: the cheap rejection, before anything is read ---------------------------
            if shed is not None and not (self._exempt and scope["path"].startswith(self._exempt)):
                refusal = shed.check(loop, scope["path"], priority, caller)
                if refusal is not None:
                    await shed.refuse(scope, response, *refusal)
                    return
                shed.inflight += 1
                shed_started = now if self._real_time else time.monotonic()

            # -- deadline: the request's one budget ------------------------------------------
            deadline = self._deadline
            timeout = 0.0
            source = ""
            if deadline is not None:
                timeout, source = self._default_timeout, "service"
                route_timeouts = self._timeouts
                if route_timeouts is None:
                    route_timeouts = self._route_timeouts(deadline)
                if route_timeouts is not False:
                    route_value = route_timeouts.lookup(scope)
                    if route_value is not None:
                        timeout, source = route_value, "route"
                if self._inbound and timeouts is not None:
                    deadline.stats.malformed_header += malformed
                    if caller is not None:
                        if caller <= 0:
                            deadline.stats.refused_late += 1
                            late = "the request arrived with its budget already spent"
                            await send_error(scope, receive, response, DeadlineExceeded(late))
                            return
                        if caller < timeout:
                            timeout, source = caller, "header"

            # -- lifecycle: in-flight bound, body limit --------------------------------------
            lifecycle = self._lifecycle
            body: _BodyCounter | None = None
            app_receive: Receive = receive
            app_send: Send = response
            if lifecycle is not None:
                stats = lifecycle.stats
                if stats.in_flight >= lifecycle.config.max_in_flight:
                    stats.rejected_busy += 1
                    busy = RejectedError(
                        f"more than {lifecycle.config.max_in_flight} requests in flight",
                        retry_after=lifecycle.config.retry_after,
                    )
                    await send_error(scope, receive, response, busy)
                    return
                if length is not None or chunked:
                    limit = self._body_limit(lifecycle, scope)
                    declared = _declared(length)
                    if declared is not None and declared > limit:
                        stats.rejected_declared += 1
                        error = BodyTooLarge(
                            f"Content-Length {declared} is over the limit of {limit} bytes"
                        )
                        await send_error(scope, receive, response, error, close=True)
                        return
                    body = _BodyCounter(receive, response, limit, stats)
                    app_receive, app_send = body.counting_receive, body.closing_send
                stats.in_flight += 1
                stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)

            # -- the application, under the budget -------------------------------------------
            task: asyncio.Task[Any] | None = None  # set when the budget can cancel it
            handle: asyncio.TimerHandle | None = None
            token = None
            if deadline is not None:
                deadline.stats.by_source[source] += 1
                task = (self._task_of or self._find_tasks(loop))(loop)
                if task is not None:  # ASGI servers run each request in a task
                    # Once the response has started, expiry is a no-op (the status is out).
                    # Requests on the service budget share one timer; others get their own.
                    response.task = task
                    response.expires = (now if self._real_time else time.monotonic()) + timeout
                    if source == "service":
                        self._expiry.add(loop, response)
                    else:
                        handle = loop.call_later(timeout, expire, response)
                token = _CURRENT.set(new_budget(Budget, (now + timeout, source, self._clock)))
            try:
                await self.app(scope, app_receive, app_send)
            except asyncio.CancelledError as cancel:
                if task is None or response.state != EXPIRED:
                    if cancel.args[:1] == (DRAIN_CANCEL_MESSAGE,) and not response.status:
                        await self._interrupted(scope, receive, response)
                        return
                    raise
                task.uncancel()
                deadline.stats.expired += 1  # type: ignore[union-attr]
                spent = DeadlineExceeded(f"the {source} budget of {timeout:g}s was spent")
                if response.status:
                    raise spent from None
                await send_error(scope, receive, response, spent)
            except HardenedError as error:
                tripped = body is not None and body.tripped
                if response.status or not (self._map_errors or tripped):
                    raise
                await send_error(scope, receive, app_send, error, close=tripped)
            finally:
                if lifecycle is not None:
                    lifecycle.stats.in_flight -= 1
                if task is not None:
                    if handle is None:
                        self._expiry.finish(response)
                    else:
                        handle.cancel()
                if token is not None:
                    _CURRENT.reset(token)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            ended = self._now()
            if shed_started is not None and shed is not None:
                inflight = shed.inflight
                shed.inflight = inflight - 1
                finished = ended if self._real_time else time.monotonic()
                shed.limit.on_sample(finished - shed_started, inflight)
            if red is not None:
                red.active -= 1
                if red.active_gauge is not None:
                    red.active_gauge.dec()
                method = scope["method"]
                if method not in STANDARD_METHODS:
                    method = "_OTHER"
                route = self._routes.template(scope)  # type: ignore[union-attr]
                status = response.status or (STATUS_CLIENT_CLOSED if cancelled else 500)
                counted_timing = red.known.get((method, route, status))
                if counted_timing is not None and trace is None and not red.trackers:
                    counted_timing(ended - now)  # the common case, without a call to observe
                else:
                    trace_id = trace_id_of(trace) if trace is not None else None
                    red.observe(method, route, status, ended - now, ended, trace_id=trace_id)

    async def _interrupted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The drain timeout cut the request before its response: answer 503 + Retry-After and
        close, rather than let the server answer 500 (`ShutdownInterrupted`)."""
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        cut = ShutdownInterrupted(
            "the service is shutting down and cut this request at its drain timeout; the work "
            "may be partly done",
            retry_after=1,
        )
        # No `Connection: close` here: the runner adds it to every response once shutdown began.
        await send_error(scope, receive, send, cut)

    def _route_timeouts(self, deadline: DeadlineLayer) -> RouteOverrides | Literal[False]:
        found = RouteOverrides(deadline.routes_of, ROUTE_TIMEOUT_ATTRIBUTE)
        self._timeouts = found if found else False
        return self._timeouts

    def _find_tasks(self, loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
        self._task_of = _task_lookup(loop)
        return self._task_of

    def _body_limit(self, lifecycle: LifecycleLayer, scope: Scope) -> int:
        limits = self._body_limits
        if limits is None:
            limits = self._body_limits = RouteOverrides(lifecycle.routes_of, BODY_LIMIT_ATTRIBUTE)
        limit: int = lifecycle.config.max_body_bytes
        if limits:
            limit = limits.lookup(scope) or limit
        return limit


def _declared(length: bytes | None) -> int | None:
    if length is None:
        return None
    try:
        return int(length)
    except ValueError:
        return None
