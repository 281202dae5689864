"""PostgresIdempotencyStore: keys in one PostgreSQL table shared by every replica.

It runs on the service's pool: anything whose `acquire()` is an async context manager yielding
a connection with `execute` / `fetchrow` (an `asyncpg.Pool`, or `hardened.pool.PostgresPool`,
whose statements also read the request's budget). The table is created and migrated at start,
under a transaction-scoped advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol

from hardened.deadline import remaining
from hardened.errors import ConfigError, DeadlineExceeded
from hardened.idempotency import _sql
from hardened.idempotency._store import (
    Census,
    ClaimRequest,
    InFlight,
    Mismatch,
    Outcome,
    Replay,
    StoredResponse,
    Ticket,
)

__all__ = ["ConnectionSource", "PostgresIdempotencyStore"]

_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_CLAIM_TRIES = 3  # a row released between the claim and its read is claimed again


class ConnectionSource(Protocol):
    """A pool: `async with source.acquire() as conn` yields a connection."""

    def acquire(self) -> AbstractAsyncContextManager[Any]:
        """Check a connection out for the block."""
        ...


def _changed(status: str) -> bool:
    return status.rsplit(" ", 1)[-1] != "0"


class PostgresIdempotencyStore:
    """Durable keys on PostgreSQL. `pool` is the pool itself or a callable returning it once
    the service has started; `timeout` bounds each of the store's own round trips (lowered by
    the request's remaining budget; a round trip the budget cut is `DeadlineExceeded`, 504).

    `flush_claims=False` (the default) commits a claim without waiting for its WAL flush: the
    claim is visible to every replica at once, and any later durable commit (the completion,
    a recovery point, the handler's own transaction) flushes it too, so a database crash can
    only lose a claim after which nothing was committed, the same as a crash before it.
    It saves one disk flush per keyed request; `True` flushes every claim."""

    kind = "postgres"
    durable = True
    deadline_usage = "each round trip bounded by min(timeout, the request's remaining budget)"

    def __init__(
        self,
        pool: ConnectionSource | Callable[[], ConnectionSource],
        *,
        table: str = "hardened_idempotency_keys",
        timeout: float = 2.0,
        migrate: bool = True,
        flush_claims: bool = False,
    ) -> None:
        if not _TABLE.match(table):
            raise ConfigError(f"table must be a lower-case SQL identifier, not {table!r}")
        if not timeout > 0:
            raise ConfigError("timeout must be positive")
        self._pool = pool
        self.timeout = timeout
        self.migrate = migrate
        self.flush_claims = flush_claims
        self._commit_mode = "on" if flush_claims else "off"
        self.sql = _sql.Statements(table)

    @property
    def table(self) -> str:
        """The key table's name."""
        return self.sql.table

    def _source(self) -> ConnectionSource:
        pool = self._pool
        if hasattr(pool, "acquire"):
            return pool
        return pool()

    async def start(self) -> None:
        """Create or migrate the table (idempotent; safe from many replicas at once)."""
        if not self.migrate:
            return
        async with asyncio.timeout(max(self.timeout, 30.0)), self._source().acquire() as conn:
            raw = getattr(conn, "raw", conn)
            async with raw.transaction():
                await raw.execute(_sql.LOCK)
                await raw.execute(_sql.SCHEMA_TABLE)
                version = await raw.fetchval(_sql.VERSION, self.table) or 0
                for number, step in enumerate(self.sql.migrations, start=1):
                    if number > version:
                        await raw.execute(step)
                        await raw.execute(_sql.SET_VERSION, self.table, number)

    def _bound(self, *, budget: bool = True) -> tuple[float, bool]:
        """Seconds a round trip may take now, and whether the request's budget bounds it
        (clean-up work, a heartbeat or a release, is bounded by `timeout` alone)."""
        left = remaining() if budget else None
        if left is None or left >= self.timeout:
            return self.timeout, False
        if left <= 0:
            raise DeadlineExceeded("no time left for the idempotency store")
        return left, True

    async def _execute(
        self, query: str, *args: object, connection: Any = None, budget: bool = True
    ) -> str:
        if connection is not None:
            status: str = await connection.execute(query, *args)
            return status
        seconds, by_budget = self._bound(budget=budget)
        try:
            async with asyncio.timeout(seconds), self._source().acquire() as conn:
                result: str = await conn.execute(query, *args)
                return result
        except TimeoutError as exc:
            if by_budget:
                raise DeadlineExceeded("the budget ran out in the idempotency store") from exc
            raise

    def connection(self) -> _Checkout:
        """A connection from the pool for a block, its checkout bounded like a round trip (the
        transaction mode holds one per request: the claim and the handler's transaction)."""
        return _Checkout(self)

    async def _fetchrow(self, query: str, *args: object, connection: Any = None) -> Any:
        seconds, by_budget = self._bound()
        try:
            if connection is not None:  # the connection's own timer: no task-level timeout
                return await connection.fetchrow(query, *args, timeout=seconds)
            async with asyncio.timeout(seconds), self._source().acquire() as conn:
                return await conn.fetchrow(query, *args)
        except TimeoutError as exc:
            if by_budget:
                raise DeadlineExceeded("the budget ran out in the idempotency store") from exc
            raise

    async def claim(
        self, request: ClaimRequest, *, lease: float, retention: float, connection: Any = None
    ) -> Outcome:
        """One atomic statement claims the key or returns the row that refused it (on
        `connection` when given, outside any transaction: the claim commits at once)."""
        for _ in range(_CLAIM_TRIES):
            token = _sql.new_token()
            row = await self._fetchrow(
                self.sql.claim,
                request.scope,
                request.key,
                request.fingerprint,
                request.method,
                request.route,
                token,
                lease,
                retention,
                self._commit_mode,
                connection=connection,
            )
            if row is None:  # the refusing row committed after the statement's snapshot
                row = await self._fetchrow(
                    self.sql.row, request.scope, request.key, connection=connection
                )
            if row is None:  # released or reaped meanwhile: claim again
                continue
            if row["won"]:
                return Ticket(
                    request,
                    id=row["id"],
                    token=token,
                    recovery_point=row["recovery_point"],
                    attempts=row["attempts"],
                )
            if bytes(row["fingerprint"]) != request.fingerprint:
                return Mismatch()
            if row["state"] == "completed":
                headers = json.loads(row["response_headers"] or "[]")
                return Replay(
                    StoredResponse(
                        row["response_status"],
                        tuple((name, value) for name, value in headers),
                        bytes(row["response_body"] or b""),
                    )
                )
            left = row["lease_left"]
            return InFlight(max(0.0, float(left)) if left is not None else lease)
        return InFlight(lease)

    async def heartbeat(self, ticket: Ticket, *, lease: float) -> bool:
        """Extend the lease while the token still holds it."""
        status = await self._execute(
            self.sql.heartbeat, ticket.id, ticket.token, lease, budget=False
        )
        return _changed(status)

    async def complete(
        self,
        ticket: Ticket,
        response: StoredResponse,
        *,
        retention: float,
        connection: Any = None,
    ) -> bool:
        """Store the response, fenced by the lease token; with `connection`, inside that
        connection's open transaction (committed, or rolled back, with the handler's writes)."""
        headers = json.dumps(response.headers)  # pairs as two-element arrays
        status = await self._execute(
            self.sql.complete,
            ticket.id,
            ticket.token,
            response.status,
            headers,
            response.body,
            retention,
            connection=connection,
        )
        return _changed(status)

    async def commit(
        self,
        ticket: Ticket,
        response: StoredResponse | None,
        *,
        retention: float,
        connection: Any,
    ) -> bool:
        """COMMIT `connection`'s open transaction; with `response`, the fenced completion runs
        in the same message, so storing it costs no round trip of its own. A lost lease
        aborts the transaction (nothing the handler wrote is kept) and returns False."""
        if response is None:
            await connection.execute("COMMIT")
            return True
        message = self.sql.complete_and_commit(
            id=ticket.id,
            token=ticket.token,
            status=response.status,
            headers=json.dumps(response.headers),
            body=response.body,
            retention=retention,
        )
        try:
            await connection.execute(message)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != _sql.LEASE_LOST:
                raise
            await connection.execute("ROLLBACK")
            return False
        return True

    async def release(self, ticket: Ticket) -> None:
        """Delete the key while no recovery point was recorded, else clear its lease."""
        await self._execute(self.sql.release, ticket.id, ticket.token, budget=False)

    async def reach(self, ticket: Ticket, point: str, *, connection: Any = None) -> bool:
        """Record a recovery point (fenced)."""
        status = await self._execute(
            self.sql.reach, ticket.id, ticket.token, point, connection=connection
        )
        if _changed(status):
            ticket.recovery_point = point
            return True
        return False

    async def reap(self, *, batch: int) -> int:
        """Delete up to `batch` expired, unleased keys."""
        status = await self._execute(self.sql.reap, batch, budget=False)
        return int(status.rsplit(" ", 1)[-1])

    async def census(self, *, lease: float) -> Census:
        """In-progress keys by age, on the database's clock."""
        row = await self._fetchrow(self.sql.census, lease)
        return {name: int(value) for name, value in dict(row).items()}


class _Checkout:
    """`PostgresIdempotencyStore.connection()`: the pool's checkout, its wait bounded by the
    store's timeout and the request's budget; the connection goes back at the block's end."""

    __slots__ = ("_manager", "_store")

    def __init__(self, store: PostgresIdempotencyStore) -> None:
        self._store = store
        self._manager: AbstractAsyncContextManager[Any] | None = None

    async def __aenter__(self) -> Any:
        seconds, by_budget = self._store._bound()
        manager = self._store._source().acquire()
        try:
            async with asyncio.timeout(seconds):
                held = await manager.__aenter__()
        except TimeoutError as exc:
            if by_budget:
                raise DeadlineExceeded("the budget ran out waiting for a connection") from exc
            raise
        self._manager = manager
        return held

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        manager, self._manager = self._manager, None
        if manager is None:
            return None
        return await manager.__aexit__(exc_type, exc, tb)
