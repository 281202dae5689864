"""An orders service on PostgreSQL (the service's `PostgresPool`) behind the idempotency
layer, for `hardened run` tests.

Each executed order inserts one row into ``idem_effects`` in the same transaction that stores
its response (`context.transaction()`). Request headers steer the handler without changing the
fingerprint: ``X-Delay`` (seconds to sleep first), ``X-Fail: raise`` (an exception before any
write) and ``X-Crash`` (``after-claim``: SIGKILL before any write; ``after-complete``: SIGKILL
once the transaction committed, before the response).
``IDEM_LEASE`` sets the lease; ``IDEM_LAYER=off`` serves the same route without the layer.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import PoolConfig, PostgresPool, Service, component
from hardened.gates import Mechanism
from hardened.idempotency import (
    Idempotency,
    IdempotencyConfig,
    IdempotencyContext,
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


def _crash_if(request: Request, moment: str) -> None:
    if request.headers.get("x-crash") == moment:
        os.kill(os.getpid(), signal.SIGKILL)


async def _insert(conn: Any, context: IdempotencyContext | None, item: object) -> Response:
    number = await conn.fetchval(
        "INSERT INTO idem_effects (tenant, idem_key, item, pid) "
        "VALUES ($1, $2, $3, $4) RETURNING id",
        context.scope if context else None,
        context.key if context else None,
        item,
        os.getpid(),
    )
    return JSONResponse(
        {"order": number, "item": item, "pid": os.getpid()},
        status_code=201,
        headers={"Location": f"/orders/{number}", "Set-Cookie": "session=s3cr3t"},
    )


@idempotent(transaction=True)
async def create_order(request: Request) -> Response:
    body = await request.json()
    delay = float(request.headers.get("x-delay", "0"))
    if delay:
        await asyncio.sleep(delay)
    _crash_if(request, "after-claim")
    if request.headers.get("x-fail") == "raise":
        raise RuntimeError("the handler failed before writing anything")
    context = idempotency_context(request)
    if context is None:
        async with component(request, PostgresPool).acquire() as conn, conn.transaction():
            response = await _insert(conn, None, body.get("item"))
    else:  # the order and the stored response commit together, in one round trip
        async with context.transaction() as transaction:
            response = await _insert(transaction.connection, context, body.get("item"))
            transaction.store_on_commit(response)
    _crash_if(request, "after-complete")
    return response


def _service() -> Service:
    db = PostgresPool(PoolConfig(max_size=10, min_size=2), name="db")  # DATABASE_URL at start
    mechanisms: list[Mechanism] = [db]
    if os.environ.get("IDEM_LAYER", "on") != "off":
        config = IdempotencyConfig(lease=float(os.environ.get("IDEM_LEASE", "30")))
        store = PostgresIdempotencyStore(db)
        mechanisms.append(Idempotency(store, scope=tenant_of, config=config))
    return Service(
        "idem-orders",
        routes=[Route("/orders", create_order, methods=["POST"])],
        mechanisms=mechanisms,
        shed=None,
    )


app = _service()
