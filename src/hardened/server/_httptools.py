"""The httptools flavour of the hardened protocol (imported only when httptools is installed)."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from hardened.lifecycle._framing import HEAD_TOO_LARGE
from hardened.server._protocols import _EdgeMixin

__all__ = ["HardenedHttpToolsProtocol"]


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

    def data_received(self, data: bytes) -> None:
        """Measure head bytes before the parser buffers them (httptools has no bound)."""
        in_head = not (self._discarding or self._body_pending())
        if in_head and self._head_meter.feed(data) == HEAD_TOO_LARGE:
            self._refuse_head(431)
            return
        super().data_received(data)

    def _headers_pending(self) -> bool:
        scope = self.scope
        return scope is not None and "method" not in scope

    def _body_pending(self) -> bool:
        cycle = self.cycle
        return cycle is not None and cycle.more_body
