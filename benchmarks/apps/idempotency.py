"""The POST of the idempotency-overhead comparison, with and without the Idempotency-Key layer.

Both insert one row in a transaction on the service's `PostgresPool` (`DATABASE_URL`).
`with_layer` claims the key on a connection it keeps for the handler
(`@idempotent(transaction=True)`), and the handler's COMMIT stores its response
(`context.transaction()`): the claim is the one extra round trip.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import PoolConfig, PostgresPool, Service, component
from hardened.gates import Mechanism
from hardened.idempotency import (
    Idempotency,
    PostgresIdempotencyStore,
    idempotency_context,
    idempotent,
)

TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_orders "
    "(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item text)"
)


def _tenant(connection: HTTPConnection) -> str | None:
    return connection.headers.get("authorization") or None


async def _insert(conn: Any, item: str) -> JSONResponse:
    number = await conn.fetchval("INSERT INTO bench_orders (item) VALUES ($1) RETURNING id", item)
    return JSONResponse({"order": number}, status_code=201)


@idempotent(transaction=True)
async def create_order(request: Request) -> Response:
    """Insert the order; with a claimed key, on the claim's connection, storing the response
    in the same transaction."""
    item = (await request.json())["item"]
    context = idempotency_context(request)
    if context is None:
        async with component(request, PostgresPool).acquire() as conn, conn.transaction():
            return await _insert(conn, item)
    async with context.transaction() as transaction:
        response = await _insert(transaction.connection, item)
        transaction.store_on_commit(response)
    return response


def _service(*, layer: bool) -> Service:
    db = PostgresPool(PoolConfig(max_size=8, min_size=4), name="db")  # DATABASE_URL at start
    mechanisms: list[Mechanism] = [db]
    if layer:
        mechanisms.append(Idempotency(PostgresIdempotencyStore(db), scope=_tenant))
    return Service(
        "bench-idempotency",
        routes=[Route("/orders", create_order, methods=["POST"])],
        mechanisms=mechanisms,
    )


with_layer = _service(layer=True)
without_layer = _service(layer=False)
