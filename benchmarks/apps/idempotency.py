"""The POST of the idempotency-overhead comparison, with and without the Idempotency-Key layer.

Both insert one row in a transaction on an asyncpg pool (`DATABASE_URL`). `with_layer` claims
the key first and stores its response inside the handler's transaction (`complete_in`), the
cheapest durable mode: one extra round trip for the claim, one statement in the transaction.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service, component
from hardened.gates import Installer, Mechanism
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


class _Pool:
    def install(self, service: Installer) -> None:
        @contextlib.asynccontextmanager
        async def running() -> AsyncIterator[asyncpg.Pool]:
            url = os.environ["DATABASE_URL"]
            async with asyncpg.create_pool(url, min_size=4, max_size=8) as pool:
                yield pool

        service.components.register(asyncpg.Pool, running)


def _tenant(connection: HTTPConnection) -> str | None:
    return connection.headers.get("authorization") or None


@idempotent()
async def create_order(request: Request) -> Response:
    """Insert the order; store the response in the same transaction when a key was claimed."""
    body = await request.json()
    context = idempotency_context(request)
    async with component(request, asyncpg.Pool).acquire() as conn, conn.transaction():
        number = await conn.fetchval(
            "INSERT INTO bench_orders (item) VALUES ($1) RETURNING id", body["item"]
        )
        response = JSONResponse({"order": number}, status_code=201)
        if context is not None:
            await context.complete_in(conn, response)
    return response


def _service(*, layer: bool) -> Service:
    holder: dict[str, Service] = {}
    mechanisms: list[Mechanism] = [_Pool()]
    if layer:
        store = PostgresIdempotencyStore(lambda: holder["service"].components.get(asyncpg.Pool))
        mechanisms.append(Idempotency(store, scope=_tenant))
    service = Service(
        "bench-idempotency",
        routes=[Route("/orders", create_order, methods=["POST"])],
        mechanisms=mechanisms,
    )
    holder["service"] = service
    return service


with_layer = _service(layer=True)
without_layer = _service(layer=False)
