"""PostgresPool: an asyncpg pool behind a `BoundedPool`, one per database dependency.

It is the mechanism (`Service(..., mechanisms=[PostgresPool(PoolConfig(max_size=10))])`) and
the component handlers use (`component(request, PostgresPool)`, or by name through `Pools`).
Every checkout holds one permit of the bound, so asyncpg's own queue is never waited on: the
only wait is the bounded one. A connection that cannot be opened (the database is down or
restarting) is refused as fast as the connect fails, with 503 + Retry-After; asyncpg reopens
closed connections on the next checkout, so the pool refills once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from hardened.errors import ConfigError, PoolExhausted
from hardened.pool._config import PoolConfig
from hardened.pool._connection import PooledConnection
from hardened.pool._pool import BoundedPool
from hardened.pool._state import PoolStats

if TYPE_CHECKING:
    import asyncpg
    from asyncpg import Record

    from hardened.gates import Installer, StateFields

__all__ = ["PostgresPool"]

logger = logging.getLogger("hardened.pool")

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_MAX_CONNECTIONS = (
    "SELECT current_setting('max_connections')::int, "
    "current_setting('superuser_reserved_connections')::int "
    "+ coalesce(current_setting('reserved_connections', true)::int, 0)"
)


def _unreachable() -> tuple[type[BaseException], ...]:
    """Errors meaning "no connection could be opened now" (down, restarting, full)."""
    from asyncpg import exceptions

    return (
        OSError,
        TimeoutError,
        exceptions.PostgresConnectionError,
        exceptions.CannotConnectNowError,
        exceptions.AdminShutdownError,
        exceptions.CrashShutdownError,
        exceptions.TooManyConnectionsError,
    )


class PostgresPool:
    """A bounded PostgreSQL pool: acquire waits and statements are capped by the budget."""

    deadline_usage = (
        "acquire wait = min(acquire_timeout, remaining()); statement timeout = "
        "min(command_timeout, remaining()), cancelled on the server when it runs out"
    )

    def __init__(
        self,
        config: PoolConfig,
        *,
        name: str = "db",
        on_start: Callable[[PostgresPool], Awaitable[None]] | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise ConfigError(f"a pool name must match {_NAME.pattern}, not {name!r}")
        self.config = config
        self.name = name
        self.bound = BoundedPool(
            name,
            max_size=config.max_size,
            acquire_timeout=config.acquire_timeout,
            retry_after=config.retry_after,
        )
        self.application_name = name
        self.max_connections: int | None = None  # read from the server at start
        self.reserved_connections: int | None = None
        self._on_start = on_start
        self._pool: asyncpg.Pool[Record] | None = None
        self._unreachable = _unreachable()

    @property
    def stats(self) -> PoolStats:
        """Counters and recent samples (in use, waiting, waits, holds, timeouts)."""
        return self.bound.stats

    @property
    def started(self) -> bool:
        """True between start and close."""
        return self._pool is not None

    def install(self, service: Installer) -> None:
        """Join the service's pools (`Pools`): started with the components, shown by the gate."""
        from hardened.pool._install import Pools

        Pools.of(service).join(self, service)

    # -- life --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PostgresPool]:
        """Open the pool for the block's duration."""
        await self.start()
        try:
            yield self
        finally:
            await self.close()

    async def start(self) -> None:
        """Open `min_size` connections, read the server's connection limit, run `on_start`."""
        import asyncpg

        config = self.config
        dsn = config.dsn or os.environ.get("DATABASE_URL")
        if not dsn:
            raise ConfigError(f"pool {self.name!r}: no dsn given and DATABASE_URL is not set")
        pool = await asyncpg.create_pool(
            dsn,
            min_size=config.min_size,
            max_size=config.max_size,
            max_inactive_connection_lifetime=config.max_idle_lifetime,
            command_timeout=config.command_timeout,
            statement_cache_size=config.cache_size,
            timeout=config.connect_timeout,
            server_settings={"application_name": self.application_name[:63]},
            init=self._opened,
        )
        self._pool = pool
        try:
            row = await pool.fetchrow(_MAX_CONNECTIONS, timeout=config.command_timeout)
            if row is not None:
                self.max_connections, self.reserved_connections = int(row[0]), int(row[1])
        except Exception:  # a proxy that hides settings: the gate says it could not read them
            logger.warning("pool %r: could not read max_connections", self.name, exc_info=True)
        if self._on_start is not None:
            try:
                await self._on_start(self)
            except BaseException:
                await self.close()
                raise

    async def _opened(self, connection: asyncpg.Connection[Record]) -> None:
        self.stats.opened += 1
        connection.add_termination_listener(self._closed)

    def _closed(self, connection: object, /) -> None:
        del connection
        self.stats.closed += 1

    async def close(self) -> None:
        """Close every connection (waiting up to close_timeout for checked-out ones)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(self.config.close_timeout):
                await pool.close()
        except TimeoutError:
            pool.terminate()

    # -- checkout ----------------------------------------------------------------------------

    def acquire(self) -> PooledConnection:
        """`async with pool.acquire() as conn:` — bounded wait, budget-capped statements."""
        return PooledConnection(self)

    def _refused(self, exc: BaseException) -> PoolExhausted:
        """The answer to a checkout that could not open a connection."""
        self.bound.stats.connect_errors += 1
        return PoolExhausted(
            f"pool {self.name!r} could not open a connection: {type(exc).__name__}: {exc}",
            retry_after=self.config.retry_after,
        )

    # -- one statement on its own connection ---------------------------------------------------

    async def execute(
        self,
        query: str,
        *args: object,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> str:
        """Check out, run one statement, give the connection back."""
        async with self.acquire() as conn:
            return await conn.execute(query, *args, timeout=timeout)

    async def fetch(
        self,
        query: str,
        *args: object,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> list[Record]:
        """Check out, fetch all rows, give the connection back."""
        async with self.acquire() as conn:
            return await conn.fetch(query, *args, timeout=timeout)

    async def fetchrow(
        self,
        query: str,
        *args: object,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> Record | None:
        """Check out, fetch the first row, give the connection back."""
        async with self.acquire() as conn:
            return await conn.fetchrow(query, *args, timeout=timeout)

    async def fetchval(
        self,
        query: str,
        *args: object,
        column: int = 0,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's per-call timeout
    ) -> Any:
        """Check out, fetch one value, give the connection back."""
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args, column=column, timeout=timeout)

    # -- state ---------------------------------------------------------------------------------

    def idle(self) -> int:
        """Open connections nobody holds."""
        pool = self._pool
        return pool.get_idle_size() if pool is not None else 0

    def open_connections(self) -> int:
        """Connections open to the server (idle or checked out)."""
        pool = self._pool
        return pool.get_size() if pool is not None else 0

    def state(self) -> StateFields:
        """The mechanism-state fields (`hardened.state`)."""
        stats = self.stats
        return {
            "max_size": stats.max_size,
            "in_use": stats.in_use,
            "idle": self.idle(),
            "open": self.open_connections(),
            "waiting": stats.waiting,
            "acquires_total": stats.acquires,
            "acquire_timeouts_total": stats.acquire_timeouts,
            "connect_errors_total": stats.connect_errors,
            "opened_total": stats.opened,
            "closed_total": stats.closed,
        }
