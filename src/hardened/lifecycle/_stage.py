"""The lifecycle stage: in-flight bound (503 + Retry-After) and the request body limit (413).

A declared `Content-Length` over the limit is refused before one body byte is read, with
`Connection: close`; a chunked body is counted while the application reads it and stopped at
the limit. Requests without a body pay nothing for the limit; probes never reach this stage.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Send

from hardened.errors import BodyTooLarge, HardenedError, RejectedError
from hardened.lifecycle._config import BODY_LIMIT_ATTRIBUTE, LifecycleConfig
from hardened.lifecycle._state import LifecycleStats
from hardened.routes import RouteOverrides
from hardened.stages import Exchange, Stage

__all__ = ["LifecycleStage"]

_CLOSE = (b"connection", b"close")
_LENGTH, _CHUNKED = b"content-length", b"transfer-encoding"


class _BodyCounter:
    """Counts a request body while the application reads it; stops it past the limit."""

    __slots__ = ("limit", "receive", "received", "send", "stats", "tripped")

    def __init__(self, receive: Receive, send: Send, limit: int, stats: LifecycleStats) -> None:
        self.receive = receive
        self.send = send
        self.limit = limit
        self.stats = stats
        self.received = 0
        self.tripped = False

    def too_large(self) -> BodyTooLarge:
        error = BodyTooLarge(f"the body passed the limit of {self.limit} bytes")
        error.close = True  # the rest of the body is unread: the connection cannot be reused
        return error

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


class LifecycleStage(Stage):
    """Fills the `lifecycle` slot of the fixed order."""

    slot = "lifecycle"
    headers = (_LENGTH, _CHUNKED)

    def __init__(self, config: LifecycleConfig, stats: LifecycleStats, app: ASGIApp) -> None:
        self.config = config
        self.stats = stats
        self._routes_of = app  # where `@body_limit` marks are looked up
        self._limits: RouteOverrides | None = None
        self._max_in_flight = config.max_in_flight

    def enter(self, exchange: Exchange) -> _BodyCounter | None:
        stats = self.stats
        if stats.in_flight >= self._max_in_flight:
            stats.rejected_busy += 1
            raise RejectedError(
                f"more than {self._max_in_flight} requests in flight",
                retry_after=self.config.retry_after,
            )
        body: _BodyCounter | None = None
        headers = exchange.headers
        if headers:
            length, chunked = headers.get(_LENGTH), headers.get(_CHUNKED)
            if length is not None or chunked is not None:
                limit = self._body_limit(exchange)
                declared = _declared(length)
                if declared is not None and declared > limit:
                    stats.rejected_declared += 1
                    error = BodyTooLarge(
                        f"Content-Length {declared} is over the limit of {limit} bytes"
                    )
                    error.close = True
                    raise error
                send = exchange.app_send or exchange
                body = _BodyCounter(exchange.app_receive, send, limit, stats)
                exchange.app_receive, exchange.app_send = body.counting_receive, body.closing_send
        in_flight = stats.in_flight = stats.in_flight + 1
        if in_flight > stats.peak_in_flight:  # a new peak: rare, so no max() call per request
            stats.new_peak(in_flight)
        return body

    def exit(self, exchange: Exchange, state: _BodyCounter | None) -> None:
        self.stats.in_flight -= 1
        if state is not None:  # the counter refers back to the exchange: break the cycle
            exchange.app_receive = exchange.receive
            exchange.app_send = None

    def fault(
        self, exchange: Exchange, state: _BodyCounter | None, error: BaseException
    ) -> HardenedError | None:
        """A body stopped at the limit is answered 413 + close even under a layer that would
        not map errors (the body counter's own error)."""
        if state is not None and state.tripped and isinstance(error, HardenedError):
            error.close = True
            return error
        return None

    def _body_limit(self, exchange: Exchange) -> int:
        limits = self._limits
        if limits is None:
            limits = self._limits = RouteOverrides(self._routes_of, BODY_LIMIT_ATTRIBUTE)
        limit: int = self.config.max_body_bytes
        if limits:
            limit = limits.lookup(exchange.scope) or limit
        return limit


def _declared(length: bytes | None) -> int | None:
    if length is None:
        return None
    try:
        return int(length)
    except ValueError:
        return None
