"""PoolConfig: the bound, the timeouts and the sizing inputs of one PostgreSQL pool."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardened.errors import ConfigError

__all__ = ["DEFAULT_STATEMENT_CACHE", "PoolConfig"]

DEFAULT_STATEMENT_CACHE = 100  # asyncpg's own default


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConfig:
    """One pool per dependency: `max_size` has no default, because the right number depends on
    the load and on the database's `max_connections` (the gate shows the arithmetic).

    `dsn=None` reads `DATABASE_URL` when the pool starts (never at import).
    """

    max_size: int
    dsn: str | None = None
    # Connections opened at start and kept; the rest open on demand up to max_size.
    min_size: int = 1
    # The longest an acquire waits for a free connection; the request's remaining budget
    # lowers it (HikariCP waits 30 s by default, far past any request budget: 1 s fails fast).
    acquire_timeout: float = 1.0
    # The longest one statement runs; the request's remaining budget lowers it, and on
    # expiry asyncpg cancels the statement on the server. It also bounds the reset query run
    # when a connection goes back (one that does not reset is discarded).
    command_timeout: float = 5.0
    # Opening a new connection (inside an acquire that found no open idle one).
    connect_timeout: float = 2.0
    # Closing the pool at shutdown waits this long for checked-out connections, then cuts them.
    close_timeout: float = 2.0
    # Idle connections are closed after this long (asyncpg's default).
    max_idle_lifetime: float = 300.0
    # Seconds a client should wait before retrying a request the pool refused.
    retry_after: float = 1.0
    # PgBouncer in transaction mode: server connections change between transactions, so
    # named prepared statements cannot be cached (statement cache off).
    pgbouncer: bool = False
    statement_cache_size: int | None = None
    # Sizing inputs (Little's law): the peak request rate this pool must carry per replica,
    # and the p99 time one request holds a connection; observed values replace them once seen.
    peak_rps: float | None = None
    hold_time: float | None = None
    # Replicas of the service sharing the database; None: from the Deployment manifest.
    replicas: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_size, bool) or not isinstance(self.max_size, int):
            raise ConfigError(
                f"max_size must be a whole number of connections, not {self.max_size!r}"
            )
        if self.max_size < 1:
            raise ConfigError(f"max_size must be at least 1, not {self.max_size}")
        if not 0 <= self.min_size <= self.max_size:
            raise ConfigError(
                f"min_size must be 0..max_size ({self.max_size}), not {self.min_size}"
            )
        durations = {
            "acquire_timeout": self.acquire_timeout,
            "command_timeout": self.command_timeout,
            "connect_timeout": self.connect_timeout,
            "close_timeout": self.close_timeout,
            "max_idle_lifetime": self.max_idle_lifetime,
            "retry_after": self.retry_after,
        }
        for name, value in durations.items():
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be positive finite seconds, not {value}")
        if self.pgbouncer and self.statement_cache_size:
            raise ConfigError(
                "pgbouncer=True needs statement_cache_size=0: in transaction mode a cached "
                "prepared statement may live on another server connection"
            )
        if self.statement_cache_size is not None and self.statement_cache_size < 0:
            raise ConfigError("statement_cache_size must be 0 or more")
        for name, rate in (("peak_rps", self.peak_rps), ("hold_time", self.hold_time)):
            if rate is not None and not (math.isfinite(rate) and rate > 0):
                raise ConfigError(f"{name} must be positive and finite, not {rate}")
        if self.replicas is not None and self.replicas < 1:
            raise ConfigError(f"replicas must be at least 1, not {self.replicas}")

    @property
    def cache_size(self) -> int:
        """The statement cache in force: off behind PgBouncer, else asyncpg's default."""
        if self.statement_cache_size is not None:
            return self.statement_cache_size
        return 0 if self.pgbouncer else DEFAULT_STATEMENT_CACHE
