"""Drives a wrapped application's own ASGI lifespan from inside the Service's lifespan."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message

__all__ = ["InnerLifespan", "LifespanFailed"]


class LifespanFailed(RuntimeError):
    """The wrapped application reported `lifespan.startup.failed` or `shutdown.failed`."""


class InnerLifespan:
    """Runs `app`'s lifespan protocol as a task: `startup()` then `shutdown()`."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self._app = app
        self._state = state
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.supported = True

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        await self._from_app.put(message)

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self._state}
        try:
            await self._app(scope, self._receive, self._send)
        except Exception:
            # Like uvicorn's lifespan="auto": an app that raises on the lifespan scope before
            # answering does not support the protocol.
            self.supported = False
        finally:
            await self._from_app.put({"type": "lifespan.exited"})

    async def startup(self) -> None:
        """Send `lifespan.startup` and wait for the application's answer."""
        self._task = asyncio.create_task(self._run(), name="hardened-inner-lifespan")
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._from_app.get()
        if answer["type"] == "lifespan.startup.failed":
            raise LifespanFailed(answer.get("message", "application start-up failed"))
        if answer["type"] == "lifespan.exited":
            self.supported = False

    async def shutdown(self) -> None:
        """Send `lifespan.shutdown` and wait for the application to finish its teardown."""
        if self._task is None:
            return
        if self.supported:
            await self._to_app.put({"type": "lifespan.shutdown"})
            answer = await self._from_app.get()
            if answer["type"] == "lifespan.shutdown.failed":
                raise LifespanFailed(answer.get("message", "application shutdown failed"))
        await self._task
