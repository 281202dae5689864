"""A service with a PostgreSQL pool of 2 (`POOL_MAX_SIZE`), for the pool gate's tests."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service, component
from hardened.pool import PoolConfig, PostgresPool

MARKER = "hardened-pool-test"


async def hold(request: Request) -> Response:
    """Hold a connection for `seconds` in `pg_sleep`."""
    seconds = float(request.query_params.get("seconds", "0.5"))
    async with component(request, PostgresPool).acquire() as conn:
        await conn.execute(f"SELECT pg_sleep($1) /* {MARKER} */", seconds)
    return PlainTextResponse("held")


async def ping(request: Request) -> Response:
    """One quick query."""
    value = await component(request, PostgresPool).fetchval("SELECT 1")
    return PlainTextResponse(str(value))


async def fast(request: Request) -> Response:
    """An endpoint that touches no pool."""
    return PlainTextResponse("fast")


async def terminate(request: Request) -> Response:
    """Kill this request's own server connection (a broken connection), then answer."""
    async with component(request, PostgresPool).acquire() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        await component(request, PostgresPool).fetchval("SELECT pg_terminate_backend($1)", pid)
    return JSONResponse({"terminated": pid})


async def state(request: Request) -> Response:
    """The pool's state fields."""
    return JSONResponse(dict(component(request, PostgresPool).state()))


db = PostgresPool(
    PoolConfig(
        max_size=int(os.environ.get("POOL_MAX_SIZE", "2")),
        min_size=1,
        acquire_timeout=float(os.environ.get("POOL_ACQUIRE_TIMEOUT", "1.0")),
        command_timeout=10.0,
    ),
    name="db",
)

service = Service(
    "pool-app",
    routes=[
        Route("/hold", hold),
        Route("/ping", ping),
        Route("/fast", fast),
        Route("/terminate", terminate),
        Route("/state", state),
    ],
    mechanisms=[db],
)
app = service
