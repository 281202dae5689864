"""What a handler running under a claimed key can do: commit the completion inside its own
transaction, record recovery points, and derive downstream keys for external calls."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from hardened.idempotency._fingerprint import derive_key
from hardened.idempotency._key import IdempotencyLeaseLost
from hardened.idempotency._store import IdempotencyStore, StoredResponse, Ticket

__all__ = ["SCOPE_KEY", "IdempotencyContext", "idempotency_context", "storable", "stored_response"]

SCOPE_KEY = "hardened.idempotency"
_UNSTORED = frozenset({408, 409, 425, 429})


def storable(status: int) -> bool:
    """2xx and deterministic 4xx are kept for replay; 5xx, 408, 409, 425 and 429 are not."""
    return 200 <= status < 300 or (400 <= status < 500 and status not in _UNSTORED)


def stored_response(
    status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes, allowed: frozenset[str]
) -> StoredResponse:
    """The replayable part of a response: its status, allowlisted headers and body."""
    headers = tuple(
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in raw_headers
        if name.decode("latin-1").lower() in allowed
    )
    return StoredResponse(status, headers, body)


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
        if not storable(response.status_code):
            return
        stored = stored_response(
            response.status_code, response.raw_headers, bytes(response.body), self._allowed
        )
        done = await self._store.complete(
            self.ticket, stored, retention=self._retention, connection=connection
        )
        if not done:
            raise IdempotencyLeaseLost("the lease passed to a retry; nothing was stored")
        self.ticket.completed = True


def idempotency_context(connection: HTTPConnection) -> IdempotencyContext | None:
    """The claimed key of this request, or None when the layer did not claim one."""
    context: IdempotencyContext | None = connection.scope.get(SCOPE_KEY)
    return context
