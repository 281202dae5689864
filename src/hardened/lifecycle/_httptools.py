"""The httptools flavour of the hardened protocol (imported only when httptools is installed)."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from hardened.lifecycle.protocols import _EdgeMixin

__all__ = ["HardenedHttpToolsProtocol"]


class HardenedHttpToolsProtocol(_EdgeMixin, HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body timeouts and a lingering close."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._in_body = False
        super().__init__(config, server_state, app_state, _loop)
        self._edge_setup()

    def on_headers_complete(self) -> None:
        self._in_body = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def _headers_pending(self) -> bool:
        # uvicorn starts a fresh scope at a request's first byte and adds "method" once the
        # headers are complete.
        scope = self.scope
        return scope is not None and "method" not in scope

    def _body_pending(self) -> bool:
        return self._in_body
