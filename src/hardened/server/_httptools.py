"""The httptools flavour of the hardened protocol (imported only when httptools is installed).

On the public listener it also takes the shedder's early decision (`HardenedConfig.
early_refusal`, the `shed.early_refusal` fact): when a request's headers are complete, before
its task is created, the hook may answer it at once. The answer is written as uvicorn's own
`send` writes one (default headers, `Connection: close` when the connection is not kept, no
body for HEAD, the access line), and the connection goes on as after any answer: the next
pipelined request is started (or refused) in turn, a refusal with `Connection: close` closes
lingering (its body is read and dropped, never parsed as a request), and a request parsed after
that close is never served. Under CPU overload this spares a refused request the loop turn its
task would wait for its first step.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string
from uvicorn.server import ServerState

from hardened._logging import request_logging
from hardened.lifecycle._framing import HEAD_TOO_LARGE
from hardened.server._protocols import _EdgeMixin

__all__ = ["HardenedHttpToolsProtocol"]

logger = logging.getLogger("hardened.server")

_CLOSE = b"close"
_ARRIVED = "hardened.arrived"


async def _nothing(*_: Any) -> None:
    """The application behind the proxy-headers rewrite run at headers-complete."""


def _forwarding(config: uvicorn.Config, app: Any) -> tuple[Any, ProxyHeadersMiddleware | None]:
    """(the application a task runs, the proxy-headers rewrite to apply before the early
    decision): with uvicorn's proxy headers on, the rewrite moves out of the task to
    headers-complete, so the shedder judges the client the application sees, once."""
    if getattr(config, "early_refusal", None) is None or not isinstance(
        app, ProxyHeadersMiddleware
    ):
        return app, None
    rewrite = copy.copy(app)  # the same trusted hosts (and their cache), nothing behind it
    rewrite.app = _nothing
    return app.app, rewrite


def _rewrite(proxy: ProxyHeadersMiddleware, scope: dict[str, Any]) -> None:
    """Apply uvicorn's proxy headers to `scope` now (its middleware never awaits before it
    calls the application, here one that returns at once)."""
    step = proxy(scope, _nothing, _nothing)  # type: ignore[arg-type]
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise RuntimeError("uvicorn's proxy headers middleware suspended")


class HardenedHttpToolsProtocol(_EdgeMixin, HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body timeouts and a lingering close.

    The parser state is read from what uvicorn already keeps (no extra parser callbacks on the
    request path): a fresh scope at a request's first byte gains "method" when its headers are
    complete; the cycle's `more_body` turns false when its body is complete. A body the
    application answered before reading stays "pending" (it is never marked complete), which
    only makes such a keep-alive connection close after `body_timeout` instead of keep-alive.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._edge_setup()
        self._early = getattr(config, "early_refusal", None)
        self.app, self._proxy = _forwarding(config, self.app)
        self._answered: RequestResponseCycle | None = None  # the last cycle answered early

    def data_received(self, data: bytes) -> None:
        """Measure head bytes before the parser buffers them (httptools has no bound)."""
        in_head = not (self._discarding or self._body_pending())
        if in_head and self._head_meter.feed(data) == HEAD_TOO_LARGE:
            self._refuse_head(431)
            return
        super().data_received(data)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        answered = self._answered
        if answered is not None and self.cycle is answered:
            answered.more_body = False  # its body (if any) is dropped: the next head is metered
            self._answered = None

    def _headers_pending(self) -> bool:
        scope = self.scope
        return scope is not None and "method" not in scope

    def _body_pending(self) -> bool:
        cycle = self.cycle
        return cycle is not None and cycle.more_body

    # -- the early refusal -------------------------------------------------------------------

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        """Start the request's task, unless the early decision answers it now."""
        early = self._early
        if early is None:
            super()._start_asgi_task(cycle, app)
            return
        if self._closing:
            return  # parsed after an early refusal closed the connection: never served
        if self.timeout_keep_alive_task is not None:  # armed by a refusal in this same read
            self._unset_keepalive_if_required()
        while True:
            scope: Any = cycle.scope
            if self._proxy is not None:  # what the task's middleware did, done here once
                _rewrite(self._proxy, scope)
            if self._arrived is not None:  # a new connection's first request
                scope[_ARRIVED], self._arrived = self._arrived, None
            if app is not self.app or self.flow.write_paused:
                break  # uvicorn's own 503, or a client not reading its answers: the task waits
            try:
                answer = early(scope)
            except Exception:
                logger.exception("the early shed decision failed; the stage decides instead")
                break
            if answer is None:
                break
            self._answer_now(cycle, answer)
            # What uvicorn does after an answer (on_response_complete), without recursing
            # through a run of pipelined refusals.
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self.flow.resume_reading()
            if not self.pipeline:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )
                return
            cycle, app = self.pipeline.pop()
        super()._start_asgi_task(cycle, app)

    def _answer_now(
        self, cycle: RequestResponseCycle, answer: tuple[int, list[tuple[bytes, bytes]], bytes]
    ) -> None:
        """Write `answer` as the cycle's `send` would, and complete the cycle without a task."""
        status, headers, body = answer
        scope: Any = cycle.scope
        keep_alive = cycle.keep_alive
        closes = False
        content = [STATUS_LINE[status]]
        for name, value in (*cycle.default_headers, *headers):
            if name == b"connection" and _CLOSE in [t.strip().lower() for t in value.split(b",")]:
                keep_alive, closes = False, True
            content += (name, b": ", value, b"\r\n")
        if not keep_alive and not closes:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        if scope["method"] != "HEAD":
            content.append(body)
        cycle.response_started = cycle.response_complete = True
        cycle.waiting_for_100_continue = False
        cycle.keep_alive = keep_alive
        self._answered = cycle
        if cycle.access_log:
            with request_logging(scope):  # the access line names the request, as in its task
                self.access_logger.info(
                    '%s - "%s %s HTTP/%s" %d',
                    get_client_addr(scope),
                    scope["method"],
                    get_path_with_query_string(scope),
                    scope["http_version"],
                    status,
                )
        self.transport.write(b"".join(content))
        cycle.message_event.set()
        if not keep_alive:
            self.transport.close()  # lingering while the body still arrives (`_EdgeMixin`)
