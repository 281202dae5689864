"""A service with a PostgreSQL pool for the pool drill: `app` fails fast, `slow_acquire` waits."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service, component
from hardened.drill import DrillConfig, DrillHooks, DrillRequest
from hardened.pool import PoolConfig, PostgresPool


async def ping(request: Request) -> Response:
    async with component(request, PostgresPool).acquire() as conn:
        return PlainTextResponse(str(await conn.fetchval("SELECT 1")))


def build(name: str, acquire_timeout: float) -> Service:
    """A service with one small pool; `acquire_timeout` is how long a checkout may wait."""
    db = PostgresPool(PoolConfig(max_size=2, acquire_timeout=acquire_timeout), name="db")
    drills = DrillConfig(database=DrillRequest(path="/ping", safe=True), pools=[db], postgres=True)
    return Service(name, routes=[Route("/ping", ping)], mechanisms=[db, DrillHooks(drills)])


app = build("drill-pool", acquire_timeout=0.5)
# A checkout that waits longer than the connections are held: the request is served late
# instead of failing fast.
slow_acquire = build("drill-pool-slow", acquire_timeout=4.5)
