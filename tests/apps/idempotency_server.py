"""An orders service on PostgreSQL behind the idempotency layer, for `hardened run` tests.

Each executed order inserts one row into ``idem_effects`` in the same transaction that stores
its response. Request headers steer the handler without changing the fingerprint:
``X-Delay`` (seconds to sleep first), ``X-Fail: raise`` (an exception before any write) and
``X-Crash`` (``after-claim``: SIGKILL before any
write; ``after-complete``: SIGKILL once the transaction committed, before the response).
``IDEM_LEASE`` sets the lease; ``IDEM_LAYER=off`` serves the same route without the layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service, component
from hardened.gates import Installer, Mechanism
from hardened.idempotency import (
    Idempotency,
    IdempotencyConfig,
    PostgresIdempotencyStore,
    idempotency_context,
    idempotent,
)
from tests.apps.idempotency_memory import tenant_of

EFFECTS_TABLE = """
CREATE TABLE IF NOT EXISTS idem_effects (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant text, idem_key text, item text, pid int
)
"""


class AsyncpgPool:
    """Registers a plain asyncpg pool as a component (started before the key store)."""

    def install(self, service: Installer) -> None:
        """Open the pool with the service, close it after."""

        @contextlib.asynccontextmanager
        async def running() -> AsyncIterator[asyncpg.Pool]:
            async with asyncpg.create_pool(
                os.environ["DATABASE_URL"], min_size=2, max_size=10
            ) as pool:
                yield pool

        service.components.register(asyncpg.Pool, running)


def _crash_if(request: Request, moment: str) -> None:
    if request.headers.get("x-crash") == moment:
        os.kill(os.getpid(), signal.SIGKILL)


@idempotent()
async def create_order(request: Request) -> Response:
    body = await request.json()
    delay = float(request.headers.get("x-delay", "0"))
    if delay:
        await asyncio.sleep(delay)
    _crash_if(request, "after-claim")
    if request.headers.get("x-fail") == "raise":
        raise RuntimeError("the handler failed before writing anything")
    context = idempotency_context(request)
    pool = component(request, asyncpg.Pool)
    async with pool.acquire() as conn, conn.transaction():
        number = await conn.fetchval(
            "INSERT INTO idem_effects (tenant, idem_key, item, pid) "
            "VALUES ($1, $2, $3, $4) RETURNING id",
            context.scope if context else None,
            context.key if context else None,
            body.get("item"),
            os.getpid(),
        )
        response = JSONResponse(
            {"order": number, "item": body.get("item"), "pid": os.getpid()},
            status_code=201,
            headers={"Location": f"/orders/{number}", "Set-Cookie": "session=s3cr3t"},
        )
        if context is not None:
            await context.complete_in(conn, response)
    _crash_if(request, "after-complete")
    return response


def _service() -> Service:
    with_layer = os.environ.get("IDEM_LAYER", "on") != "off"
    holder: dict[str, Service] = {}
    store = PostgresIdempotencyStore(lambda: holder["service"].components.get(asyncpg.Pool))
    config = IdempotencyConfig(lease=float(os.environ.get("IDEM_LEASE", "30")))
    mechanisms: list[Mechanism] = [AsyncpgPool()]
    if with_layer:
        mechanisms.append(Idempotency(store, scope=tenant_of, config=config))
    service = Service(
        "idem-orders",
        routes=[Route("/orders", create_order, methods=["POST"])],
        mechanisms=mechanisms,
        shed=None,
    )
    holder["service"] = service
    return service


app = _service()
