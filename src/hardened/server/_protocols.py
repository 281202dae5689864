"""uvicorn protocol classes with the timeouts stock uvicorn lacks (uvicorn 0.54's internals).

- Header timeout: from a connection's first byte (or its accept, for a silent socket), or a
  keep-alive request's first byte, to the end of the headers. A header-trickling client gets
  `408` and the connection is closed; a silent one is closed.
- Body timeout: the longest silence while the client still owes body bytes and the
  application is reading them (a paused read is the application's choice, not the client's).
- Header bounds and framing (`hardened.lifecycle._framing`): a head over its bounds gets `431`,
  an ambiguously framed one on h11 gets `400`; both close the connection (lingering).
- Lingering close: when uvicorn closes a connection whose request body is still arriving
  (a 413 with `Connection: close`), the write side is shut first and the rest of the body is
  read and dropped for up to `linger_timeout`, so the client reads the answer instead of a
  reset. Memory stays flat: dropped bytes are never buffered.

- Arrival: a new connection's first request carries `scope["hardened.arrived"]` (loop time),
  when it arrived before accept (`_arrival`), so the shedder sees the accept queue's wait; one
  whose client closed after waiting `STALE_AFTER` in that queue is closed unserved.
- Early refusal (httptools, the public listener): the shedder may refuse a request at its
  headers-complete, before its task is created (`_httptools`, `hardened.shed._early`).

Timers are armed only while something is pending, so a request that arrives in one read
costs no timer at all. Selected with `uvicorn.Config(http=...)`, a class uvicorn accepts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import h11
import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from hardened.faults import ClientFault, note_fault
from hardened.lifecycle import HeaderLimits, SlowClientStats
from hardened.lifecycle._framing import HeadMeter, buffered_head_refusal, refusal
from hardened.server._arrival import accept_wait

__all__ = [
    "EarlyRefusalHook",
    "EdgeTimeouts",
    "HardenedConfig",
    "HardenedH11Protocol",
    "SlowClientStats",
    "protocol_class",
]

# A request whose client closed after it had waited this long before accept is not served.
STALE_AFTER = 0.5

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 15\r\nconnection: close\r\n\r\nRequest Timeout"
)


EarlyRefusalHook = Callable[[dict[str, Any]], tuple[int, list[tuple[bytes, bytes]], bytes] | None]
"""Called with a request's scope at headers-complete: the answer to write now, or None to serve
it (the `shed.early_refusal` fact)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeTimeouts:
    """The protocol-level timeouts (seconds)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    linger_timeout: float = 2.0


class HardenedConfig(uvicorn.Config):
    """`uvicorn.Config` that carries the edge timeouts (and the public listener's early
    refusal) to the protocol instances."""

    def __init__(
        self,
        app: Any,
        *,
        edge_timeouts: EdgeTimeouts,
        edge_stats: SlowClientStats,
        header_limits: HeaderLimits | None = None,
        early_refusal: EarlyRefusalHook | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self.edge_timeouts = edge_timeouts
        self.edge_stats = edge_stats
        self.header_limits = header_limits or HeaderLimits()
        self.early_refusal = early_refusal


class _LingeringTransport:
    """The transport as uvicorn sees it: `close()` goes through the protocol's lingering close."""

    __slots__ = (
        "_protocol",
        "_transport",
        "get_extra_info",
        "pause_reading",
        "resume_reading",
        "write",
    )

    def __init__(self, transport: asyncio.Transport, protocol: _EdgeMixin) -> None:
        self._transport = transport
        self._protocol = protocol
        self.write = transport.write
        self.get_extra_info = transport.get_extra_info
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def is_closing(self) -> bool:
        return self._protocol._closing or self._transport.is_closing()

    def close(self) -> None:
        self._protocol._close_requested()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _EdgeMixin(asyncio.Protocol):
    """Header/body timeouts and the lingering close, over either uvicorn HTTP protocol."""

    loop: asyncio.AbstractEventLoop
    flow: FlowControl
    config: uvicorn.Config
    cycle: Any

    def _edge_setup(self) -> None:
        timeouts = getattr(self.config, "edge_timeouts", None) or EdgeTimeouts()
        stats = getattr(self.config, "edge_stats", None)
        self._edge_stats: SlowClientStats = stats if stats is not None else SlowClientStats()
        self._header_timeout = timeouts.header_timeout
        self._body_timeout = timeouts.body_timeout
        self._linger_timeout = timeouts.linger_timeout
        self._real: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._header_since: float | None = None
        self._header_bytes = False
        self._last_read = 0.0
        self._closing = False
        self._discarding = False
        self._app_not_reading = False  # seen at the last body check: the client was not stalling
        limits = getattr(self.config, "header_limits", None)
        self._head_meter = HeadMeter(limits if isinstance(limits, HeaderLimits) else HeaderLimits())
        self._arrived: float | None = None  # the first request's arrival, for its scope

    # -- parser-specific state ---------------------------------------------------------------

    def _headers_pending(self) -> bool:
        raise NotImplementedError

    def _body_pending(self) -> bool:
        raise NotImplementedError

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        real = cast(asyncio.Transport, transport)
        self._real = real
        super().connection_made(cast(asyncio.Transport, _LingeringTransport(real, self)))
        now = self._header_since = self._last_read = self.loop.time()
        waited, gone = accept_wait(real.get_extra_info("socket"))
        if gone and waited is not None and waited >= STALE_AFTER:
            # The client gave up while its request queued (a half-close right after a request
            # is legitimate, but not after this long in the accept queue): it is not served.
            self._closing = True
            real.close()
            return
        if waited is not None:
            self._arrived = now - waited
        self._arm(self._header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            self._edge_stats.discarded_bytes += len(data)
            return
        now = self._last_read = self.loop.time()
        super().data_received(data)
        if self._arrived is not None:
            scope = getattr(self, "scope", None)
            if scope is not None:  # its task has not run yet: the shedder reads the stamp
                scope["hardened.arrived"] = self._arrived
                self._arrived = None
        if self._closing:
            return
        if self._headers_pending():
            if self._header_since is None:
                self._header_since = now
            self._header_bytes = True
            if self._timer is None:
                self._arm(self._header_timeout - (now - self._header_since))
            return
        if self._header_since is not None:
            self._header_since = None
            self._header_bytes = False
        if self._timer is None and self._body_pending():
            self._arm(self._body_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._note(ClientFault.DISCONNECT)
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._note(ClientFault.MALFORMED)  # mid-body: the application's request is cut
        super().send_400_response(msg)  # type: ignore[misc]

    def _note(self, fault: ClientFault) -> None:
        """Tell the edge (in the scope) why a request ended before any status reached the client."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            note_fault(cycle.scope, fault)

    # -- timers ------------------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        self._timer = self.loop.call_later(max(delay, 0.0), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        real = self._real
        if real is None or real.is_closing() or self._closing or real.get_protocol() is not self:
            return  # closed, closing, or upgraded to a WebSocket protocol that owns it now
        now = self.loop.time()
        if self._header_since is not None:
            left = self._header_timeout - (now - self._header_since)
            if left > 0:
                self._arm(left)
                return
            self._edge_stats.header_timeouts += 1
            if self._header_bytes:
                real.write(_REQUEST_TIMEOUT)
            self._closing = True
            real.close()
            return
        if not self._body_pending():
            return
        cycle = self.cycle
        if self.flow.read_paused or getattr(cycle, "waiting_for_100_continue", False):
            # The application is not reading (yet): the client is not the one stalling.
            self._app_not_reading = True
            self._arm(self._body_timeout)
            return
        if self._app_not_reading:
            # The application started reading since the last check (e.g. 100 Continue just
            # went out): the client's full body timeout counts from now.
            self._app_not_reading = False
            self._last_read = now
        left = self._body_timeout - (now - self._last_read)
        if left > 0:
            self._arm(left)
            return
        self._edge_stats.body_timeouts += 1
        self._note(ClientFault.SLOW_BODY)
        if cycle is not None and not cycle.response_started:
            real.write(_REQUEST_TIMEOUT)
        self._closing = True
        real.close()

    # -- lingering close ---------------------------------------------------------------------

    def _close_requested(self) -> None:
        real = self._real
        if real is None or self._closing:
            return
        self._closing = True
        if real.get_protocol() is not self:  # upgraded: the WebSocket protocol closes it
            real.close()
            return
        if self._body_pending() and not real.is_closing() and real.can_write_eof():
            self._edge_stats.lingered += 1
            self._linger(real)
            return
        real.close()

    def _linger(self, real: asyncio.Transport) -> None:
        """Shut the write side, then read and drop what arrives for up to `linger_timeout`."""
        self._discarding = True
        real.write_eof()
        real.resume_reading()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(self._linger_timeout, real.close)

    def eof_received(self) -> None:
        if self._discarding and self._real is not None:
            self._real.close()

    def _refuse_head(self, status: int) -> None:
        """Answer a refused head (431 or 400) and close lingering: the rest is never parsed."""
        real = self._real
        if real is not None and not self._closing:
            self._edge_stats.refused_heads += 1
            self._closing = True
            real.write(refusal(status))
            if real.can_write_eof():
                self._linger(real)
            else:
                real.close()


class HardenedH11Protocol(_EdgeMixin, H11Protocol):
    """uvicorn's h11 protocol with header/body timeouts and a lingering close."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._edge_setup()
        # h11's own bound answers 400; ours (431) must see every head first.
        limit = self._head_meter.limits.max_total_bytes + 1
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limit)

    def handle_events(self) -> None:
        """Bound and check the buffered head before h11 parses it (pipelined heads included)."""
        if self.conn.their_state is h11.IDLE and not self._closing:
            status = buffered_head_refusal(self.conn.trailing_data[0], self._head_meter)
            if status:
                self._refuse_head(status)
                return
        super().handle_events()

    def _headers_pending(self) -> bool:
        # Idle with unparsed bytes: part of a request line or headers has arrived.
        return self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])

    def _body_pending(self) -> bool:
        return self.conn.their_state is h11.SEND_BODY


def protocol_class(http: str) -> type[asyncio.Protocol]:
    """The hardened protocol for uvicorn's `--http` choice (auto: httptools when installed)."""
    if http == "h11":
        return HardenedH11Protocol
    if http not in ("auto", "httptools"):
        raise ValueError(f"unknown HTTP implementation {http!r}")
    try:
        from hardened.server._httptools import HardenedHttpToolsProtocol
    except ImportError:
        if http == "httptools":
            raise
        return HardenedH11Protocol
    return HardenedHttpToolsProtocol
