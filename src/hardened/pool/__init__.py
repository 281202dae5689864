"""The pool gate: bounded pools whose waits end within the request budget, and the sizing check.

A service declares one `PostgresPool` per database it uses and installs it as a mechanism::

    db = PostgresPool(PoolConfig(max_size=10), name="db")
    service = Service("payments", routes=routes, mechanisms=[db])

    async def handler(request):
        async with component(request, PostgresPool).acquire() as conn:
            row = await conn.fetchrow("SELECT ...")

An acquire waits at most `min(acquire_timeout, the request's remaining budget)`, then raises
`PoolExhausted` (503 + Retry-After); statements are cut (and cancelled on the server) when the
budget runs out. The gate lists every pool the service holds — its PostgreSQL pools, the
asyncpg pools and httpx clients among its components, the offload thread pool — and shows the
Little's-law and `max_connections` arithmetic.
"""

from hardened.pool._config import PoolConfig
from hardened.pool._connection import PooledConnection
from hardened.pool._gate import PoolGate
from hardened.pool._install import POOLS_FACT, Pools
from hardened.pool._pool import BoundedPool
from hardened.pool._postgres import PostgresPool

__all__ = [
    "POOLS_FACT",
    "BoundedPool",
    "PoolConfig",
    "PoolGate",
    "PooledConnection",
    "Pools",
    "PostgresPool",
]
