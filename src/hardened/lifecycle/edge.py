"""The lifecycle slot: in-flight bound (503 + Retry-After) and the request body limit (413).

A declared `Content-Length` over the limit is refused before one body byte is read, with
`Connection: close`; a chunked body is counted while the application reads it and stopped at
the limit. Requests without a body pay nothing for the limit; probes never reach this layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hardened.errors import BodyTooLarge, RejectedError
from hardened.lifecycle.config import BODY_LIMIT_ATTRIBUTE, LifecycleConfig
from hardened.lifecycle.routes import RouteOverrides
from hardened.problems import send_error

if TYPE_CHECKING:
    from hardened.service import Service

__all__ = ["EdgeStats", "LifecycleLayer", "LifecycleMiddleware", "SlowClientStats"]

_CLOSE = (b"connection", b"close")


class EdgeStats:
    """Counters and the in-flight gauge (plain integers, read by the gate and the metrics)."""

    __slots__ = ("in_flight", "peak_in_flight", "rejected_busy", "rejected_declared", "stopped")

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rejected_busy = 0
        self.rejected_declared = 0
        self.stopped = 0


class SlowClientStats:
    """What the protocols did to slow clients (plain counters, shared by all connections)."""

    __slots__ = ("body_timeouts", "discarded_bytes", "header_timeouts", "lingered")

    def __init__(self) -> None:
        self.header_timeouts = 0
        self.body_timeouts = 0
        self.lingered = 0
        self.discarded_bytes = 0


class LifecycleMiddleware:
    """Pure ASGI: bound in-flight requests, then enforce the body limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: LifecycleConfig,
        stats: EdgeStats,
        routes_of: ASGIApp | None = None,
    ) -> None:
        self.app = app
        self._limit = config.max_body_bytes
        self._max_in_flight = config.max_in_flight
        self._retry_after = config.retry_after
        self._stats = stats
        self._routes_of = routes_of if routes_of is not None else app
        self.overrides: RouteOverrides | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = self._stats
        if stats.in_flight >= self._max_in_flight:
            stats.rejected_busy += 1
            busy = RejectedError(
                f"more than {self._max_in_flight} requests in flight",
                retry_after=self._retry_after,
            )
            await send_error(scope, receive, send, busy)
            return
        declared: int | None = None
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                has_body = True
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            try:
                await self.app(scope, receive, send)
            finally:
                stats.in_flight -= 1
            return
        limit = self._limit
        overrides = self.overrides
        if overrides is None:
            overrides = self.overrides = RouteOverrides(self._routes_of, BODY_LIMIT_ATTRIBUTE)
        if overrides:
            limit = overrides.lookup(scope) or limit
        if declared is not None and declared > limit:
            stats.rejected_declared += 1
            error = BodyTooLarge(f"Content-Length {declared} is over the limit of {limit} bytes")
            await send_error(scope, receive, send, error, close=True)
            return
        await self._run_counted(scope, receive, send, limit)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        stats = self._stats
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            stats.in_flight -= 1

    async def _run_counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        tripped = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, tripped
            if tripped:
                raise BodyTooLarge(f"the body passed the limit of {limit} bytes")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    tripped = True
                    self._stats.stopped += 1
                    raise BodyTooLarge(f"the body passed the limit of {limit} bytes")
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if tripped:
                    headers = list(message.get("headers", []))
                    if _CLOSE not in headers:
                        headers.append(_CLOSE)
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self._run(scope, counting_receive, closing_send)
        except BodyTooLarge as error:
            if started or not tripped:
                raise
            await send_error(scope, receive, send, error, close=True)


class LifecycleLayer:
    """Fills the `lifecycle` slot of the fixed middleware order."""

    slot = "lifecycle"

    def __init__(self, config: LifecycleConfig, service: Service, stats: EdgeStats) -> None:
        self._config = config
        self._service = service
        self._stats = stats

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return LifecycleMiddleware(
            app, config=self._config, stats=self._stats, routes_of=self._service.app
        )
