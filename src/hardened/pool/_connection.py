"""PooledConnection: one checked-out asyncpg connection whose statements read the budget.

Each statement runs under `min(timeout or command_timeout, the request's remaining budget)`.
When that runs out asyncpg sends a cancel request, so the query stops on the server too (it
leaves `pg_stat_activity`), and a statement the budget cut raises `DeadlineExceeded` (504).
Checking out holds one permit of the pool's bound (`BoundedPool`), so asyncpg's own queue is
never waited on; a connection that cannot be opened is refused with `PoolExhausted` (503).
Going back to the pool, the connection is reset; a closed or unresettable one is dropped
and a later checkout opens a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hardened.deadline import remaining
from hardened.errors import DeadlineExceeded

if TYPE_CHECKING:
    from asyncpg import Record
    from asyncpg.pool import PoolConnectionProxy
    from asyncpg.transaction import Transaction

    from hardened.pool._postgres import PostgresPool

__all__ = ["PooledConnection"]

logger = logging.getLogger("hardened.pool")


def _budget_spent() -> DeadlineExceeded:
    return DeadlineExceeded("the request's budget ran out during a statement; it was cancelled")


class PooledConnection:
    """`async with pool.acquire() as conn:` — a connection for the block, returned after it."""

    __slots__ = ("_pool", "_raw", "_since")

    def __init__(self, pool: PostgresPool) -> None:
        self._pool = pool
        self._raw: PoolConnectionProxy[Record] | None = None
        self._since = 0.0

    @property
    def raw(self) -> PoolConnectionProxy[Record]:
        """The asyncpg connection itself; its calls use `command_timeout`, not the budget."""
        if self._raw is None:
            raise RuntimeError("the connection is not checked out")
        return self._raw

    async def __aenter__(self) -> PooledConnection:
        owner = self._pool
        pool, bound = owner._pool, owner.bound
        if pool is None:
            raise RuntimeError(f"pool {owner.name!r} is not started")
        if self._raw is not None:
            raise RuntimeError("this connection is already checked out: call pool.acquire() again")
        clock = bound.clock
        began = clock.monotonic()
        if not bound.try_take():
            await bound.take()
        try:
            self._raw = await pool.acquire()
        except owner._unreachable as exc:
            bound.give()
            raise owner._refused(exc) from exc
        except BaseException:
            bound.give()
            raise
        self._since = now = clock.monotonic()
        bound.stats.acquired(now - began, now)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        owner = self._pool
        bound, pool = owner.bound, owner._pool
        stats = bound.stats
        stats.released(bound.clock.monotonic() - self._since)
        try:
            if pool is not None:
                await pool.release(raw)  # the reset query runs under command_timeout
        except Exception as error:  # asyncpg terminated it: a new one opens on a later checkout
            logger.warning(
                "pool %r: discarded a connection that did not reset: %r", owner.name, error
            )
        finally:
            bound.give()

    def _timeout(self, timeout: float | None) -> tuple[float, bool]:
        """The statement's timeout, and whether the request's budget is what bounds it."""
        own = self._pool.config.command_timeout if timeout is None else timeout
        left = remaining()
        if left is None or left >= own:
            return own, False
        if left <= 0:
            raise DeadlineExceeded("no time left to run a statement")
        return left, True

    async def execute(
        self,
        query: str,
        *args: object,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> str:
        """Run a statement; its status string (e.g. ``INSERT 0 1``)."""
        seconds, by_budget = self._timeout(timeout)
        try:
            return await self.raw.execute(query, *args, timeout=seconds)
        except TimeoutError as exc:
            if by_budget:
                raise _budget_spent() from exc
            raise

    async def executemany(
        self,
        command: str,
        args: Iterable[Sequence[object]],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> None:
        """Run `command` once per argument tuple."""
        seconds, by_budget = self._timeout(timeout)
        try:
            await self.raw.executemany(command, args, timeout=seconds)
        except TimeoutError as exc:
            if by_budget:
                raise _budget_spent() from exc
            raise

    async def fetch(
        self,
        query: str,
        *args: object,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> list[Record]:
        """All rows of a query."""
        seconds, by_budget = self._timeout(timeout)
        try:
            return await self.raw.fetch(query, *args, timeout=seconds)
        except TimeoutError as exc:
            if by_budget:
                raise _budget_spent() from exc
            raise

    async def fetchrow(
        self,
        query: str,
        *args: object,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> Record | None:
        """The first row of a query, or None."""
        seconds, by_budget = self._timeout(timeout)
        try:
            return await self.raw.fetchrow(query, *args, timeout=seconds)
        except TimeoutError as exc:
            if by_budget:
                raise _budget_spent() from exc
            raise

    async def fetchval(
        self,
        query: str,
        *args: object,
        column: int = 0,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> Any:
        """One value of the first row of a query (None when there is no row)."""
        seconds, by_budget = self._timeout(timeout)
        try:
            return await self.raw.fetchval(query, *args, column=column, timeout=seconds)
        except TimeoutError as exc:
            if by_budget:
                raise _budget_spent() from exc
            raise

    def transaction(
        self, *, isolation: Any = None, readonly: bool = False, deferrable: bool = False
    ) -> Transaction:
        """asyncpg's transaction block on this connection (statements inside still read the
        budget when run through this object)."""
        return self.raw.transaction(isolation=isolation, readonly=readonly, deferrable=deferrable)
