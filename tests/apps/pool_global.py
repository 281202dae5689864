"""A service whose module holds pools it does not own: a raw asyncpg pool, a stray PostgresPool."""

from __future__ import annotations

import asyncio

import asyncpg
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.pool import PoolConfig, PostgresPool

asyncio.set_event_loop(asyncio.new_event_loop())  # asyncpg.Pool() binds a loop when built
pool = asyncpg.create_pool("postgresql://localhost/app")  # never awaited: no connection yet
stray = PostgresPool(PoolConfig(max_size=5), name="stray")  # never installed on the service


async def count(request: Request) -> Response:
    return PlainTextResponse(str(await pool.fetchval("SELECT count(*) FROM things")))


service = Service("pool-global", routes=[Route("/count", count)])
app = service
