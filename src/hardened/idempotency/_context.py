"""What a handler running under a claimed key can do: commit the completion inside its own
transaction (with its COMMIT, or as a statement of it), record recovery points, and derive
downstream keys for external calls."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from hardened.idempotency._fingerprint import derive_key
from hardened.idempotency._key import IdempotencyLeaseLost
from hardened.idempotency._store import IdempotencyStore, StoredResponse, Ticket

__all__ = [
    "SCOPE_KEY",
    "CompletingTransaction",
    "IdempotencyContext",
    "idempotency_context",
    "storable",
    "stored_response",
]

logger = logging.getLogger("hardened.idempotency")

SCOPE_KEY = "hardened.idempotency"
_UNSTORED = frozenset({408, 409, 425, 429})


def storable(status: int) -> bool:
    """2xx and deterministic 4xx are kept for replay; 5xx, 408, 409, 425 and 429 are not."""
    return 200 <= status < 300 or (400 <= status < 500 and status not in _UNSTORED)


def stored_response(
    status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes, allowed: frozenset[str]
) -> StoredResponse:
    """The replayable part of a response: its status, allowlisted headers and body."""
    headers = []
    for raw_name, value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name in allowed:
            headers.append((name, value.decode("latin-1")))
    return StoredResponse(status, tuple(headers), body)


class CompletingTransaction:
    """The handler's open transaction under `IdempotencyContext.transaction()`: run statements
    on `connection`, and name the response with `store_on_commit` to have it stored for replay
    by the COMMIT itself."""

    __slots__ = ("connection", "response")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.response: Response | None = None

    def store_on_commit(self, response: Response) -> None:
        """Store `response` for replay when the transaction commits (and not if it does not)."""
        self.response = response


class IdempotencyContext:
    """The claimed key of the request being handled (`idempotency_context(request)`)."""

    __slots__ = ("_allowed", "_held", "_retention", "_store", "ticket")

    def __init__(
        self,
        ticket: Ticket,
        store: IdempotencyStore,
        *,
        retention: float,
        allowed: frozenset[str],
        held: Any = None,
    ) -> None:
        self.ticket = ticket
        self._store = store
        self._retention = retention
        self._allowed = allowed
        self._held = held

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection of the store's pool for the handler's transaction: the one that claimed
        the key on an `@idempotent(transaction=True)` route (kept for the whole request), else
        one checked out for the block."""
        if self._held is not None:
            yield self._held
            return
        manager = self._store.connection()
        if manager is None:
            raise LookupError(f"a {self._store.kind} store has no connections")
        async with manager as connection:
            yield connection

    def transaction(self) -> AbstractAsyncContextManager[CompletingTransaction]:
        """A transaction on `connection()` that stores the response named with
        `store_on_commit` in the same round trip as its COMMIT: the handler's writes and the
        replayable answer commit together, and the completion costs no round trip of its own.
        An exception inside the block rolls it back (the key is then released by the layer);
        a lease lost to a retry rolls it back and raises `IdempotencyLeaseLost`. Inside the
        block the connection is already in a transaction: asyncpg refuses a nested
        `connection.transaction()` there, so use savepoints if needed."""
        if self._held is not None:
            return _Completing(self, self._held)
        return self._checked_out_transaction()

    @contextlib.asynccontextmanager
    async def _checked_out_transaction(self) -> AsyncIterator[CompletingTransaction]:
        async with self.connection() as connection, _Completing(self, connection) as handle:
            yield handle

    async def _commit(self, handle: CompletingTransaction) -> None:
        """COMMIT the handle's transaction, with the response it names stored for replay."""
        stored = None if handle.response is None else self._replayable(handle.response)
        committed = await self._store.commit(
            self.ticket, stored, retention=self._retention, connection=handle.connection
        )
        if not committed:
            raise IdempotencyLeaseLost("the lease passed to a retry; nothing was committed")
        if stored is not None:
            self.ticket.completed = True

    @property
    def key(self) -> str:
        """The client's Idempotency-Key."""
        return self.ticket.request.key

    @property
    def scope(self) -> str:
        """The principal the key belongs to."""
        return self.ticket.request.scope

    @property
    def recovery_point(self) -> str:
        """Where an earlier attempt with this key got to (``"started"``: nowhere)."""
        return self.ticket.recovery_point

    @property
    def attempts(self) -> int:
        """How many times this key was claimed (1 on the first attempt)."""
        return self.ticket.attempts

    def downstream_key(self, step: str) -> str:
        """The idempotency key for an external call made at `step` (same on every retry)."""
        return derive_key(self.scope, self.key, step)

    async def reach(self, point: str, *, connection: Any = None) -> None:
        """Record that the work got to `point`: a retry after a crash resumes from there.
        With `connection`, inside its open transaction. `IdempotencyLeaseLost` when a retry
        took the key over."""
        if not await self._store.reach(self.ticket, point, connection=connection):
            raise IdempotencyLeaseLost("the lease passed to a retry before this point was saved")

    async def complete_in(self, connection: Any, response: Response) -> None:
        """Store `response` for replay inside `connection`'s open transaction, so it commits
        (or rolls back) with the handler's own writes. `IdempotencyLeaseLost` when a retry
        took the key over: raise it inside the transaction and nothing is committed."""
        stored = self._replayable(response)
        if stored is None:
            return
        done = await self._store.complete(
            self.ticket, stored, retention=self._retention, connection=connection
        )
        if not done:
            raise IdempotencyLeaseLost("the lease passed to a retry; nothing was stored")
        self.ticket.completed = True

    def _replayable(self, response: Response) -> StoredResponse | None:
        """What of `response` is kept for replay; None when its status is not stored."""
        if not storable(response.status_code):
            return None
        return stored_response(
            response.status_code, response.raw_headers, bytes(response.body), self._allowed
        )


async def _rollback(connection: Any) -> None:
    """Roll back; when that fails too (a cancelled or broken connection), the pool's reset
    rolls the transaction back before the connection is used again."""
    try:
        await connection.execute("ROLLBACK")
    except Exception as exc:
        logger.debug("rollback failed; left to the pool's reset: %r", exc)


class _Completing:
    """The block of `IdempotencyContext.transaction()` on a connection already in hand: BEGIN
    on entry, the completing COMMIT on a clean exit, ROLLBACK when the block raises."""

    __slots__ = ("_context", "_handle")

    def __init__(self, context: IdempotencyContext, connection: Any) -> None:
        self._context = context
        self._handle = CompletingTransaction(connection)

    async def __aenter__(self) -> CompletingTransaction:
        await self._handle.connection.execute("BEGIN")
        return self._handle

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            await _rollback(self._handle.connection)
            return
        await self._context._commit(self._handle)


def idempotency_context(connection: HTTPConnection) -> IdempotencyContext | None:
    """The claimed key of this request, or None when the layer did not claim one."""
    context: IdempotencyContext | None = connection.scope.get(SCOPE_KEY)
    return context
