"""Around a claimed handler: the response held until it is stored, the lease heartbeat, and
the replay of a stored response."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

from starlette.types import Message, Send

from hardened.idempotency._config import IdempotencyConfig
from hardened.idempotency._context import storable, stored_response
from hardened.idempotency._state import IdempotencyStats
from hardened.idempotency._store import IdempotencyStore, StoredResponse, Ticket

__all__ = ["Capture", "Heartbeat", "replay"]

logger = logging.getLogger("hardened.idempotency")


async def replay(send: Send, response: StoredResponse) -> None:
    """Answer with a stored response, marked ``Idempotent-Replayed: true``."""
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class Capture:
    """The `send` a claimed handler gets: a storable response is held, stored (fenced), then
    sent; anything else, or a body past `max_stored_body`, goes out as it comes, once the key
    is released (so a client retrying the moment it sees a 5xx finds the key free)."""

    __slots__ = (
        "_chunks",
        "_config",
        "_release",
        "_send",
        "_size",
        "_start",
        "_stats",
        "_store",
        "_ticket",
    )

    def __init__(
        self,
        send: Send,
        *,
        ticket: Ticket,
        store: IdempotencyStore,
        config: IdempotencyConfig,
        stats: IdempotencyStats,
        release: Callable[[], Awaitable[None]],
    ) -> None:
        self._send = send
        self._release = release
        self._ticket = ticket
        self._store = store
        self._config = config
        self._stats = stats
        self._start: Message | None = None
        self._chunks: list[bytes] = []
        self._size = 0

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self._ticket.completed:  # completed in the handler's transaction
                await self._send(message)
                return
            if storable(message["status"]):
                self._start = message
                return
            await self._release()
            await self._send(message)
            return
        if kind != "http.response.body" or self._start is None:
            await self._send(message)
            return
        chunk: bytes = message.get("body", b"")
        self._chunks.append(chunk)
        self._size += len(chunk)
        more = bool(message.get("more_body", False))
        if self._size > self._config.max_stored_body:
            self._stats.unstored_too_large += 1
            logger.warning(
                "response of %s %s passed max_stored_body: sent, not stored (key released)",
                self._ticket.request.method,
                self._ticket.request.route,
            )
            await self._release()
            await self._flush(more=more)
        elif not more:
            await self._complete()
            await self._flush(more=False)

    async def _flush(self, *, more: bool) -> None:
        start, self._start = self._start, None
        assert start is not None
        body, self._chunks = b"".join(self._chunks), []
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def _complete(self) -> None:
        start = self._start
        assert start is not None
        response = stored_response(
            start["status"],
            list(start.get("headers", ())),
            b"".join(self._chunks),
            self._config.replayed_headers,
        )
        try:
            done = await self._store.complete(
                self._ticket, response, retention=self._config.retention
            )
        except Exception as exc:
            self._stats.completion_failures += 1
            logger.error("could not store the response for an idempotency key: %r", exc)  # noqa: TRY400
            return
        if done:
            self._ticket.completed = True
        else:
            self._stats.lost_leases += 1
            logger.warning("an idempotency key's lease was lost before completion: not stored")


class Heartbeat:
    """Renews the claim's lease every `lease / 3` while the handler runs."""

    __slots__ = ("_handle", "_interval", "_lease", "_store", "_task", "_ticket")

    def __init__(self, store: IdempotencyStore, ticket: Ticket, lease: float) -> None:
        self._store = store
        self._ticket = ticket
        self._lease = lease
        self._interval = lease / 3
        self._task: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = loop.call_later(self._interval, self._fire)

    def _fire(self) -> None:
        self._handle = None
        # Outside the request's context: renewing the lease is not bounded by its budget.
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), context=contextvars.Context())

    async def _run(self) -> None:
        while not self._ticket.completed:
            try:
                if not await self._store.heartbeat(self._ticket, lease=self._lease):
                    return  # lost: the completion will be refused by the fence
            except Exception as exc:
                logger.warning("idempotency heartbeat failed: %r", exc)
            await asyncio.sleep(self._interval)

    def stop(self) -> None:
        """Stop renewing (the handler finished)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
