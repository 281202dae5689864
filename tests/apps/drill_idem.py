"""Charge endpoints for the idempotency drill.

`with_key`: behind the Idempotency-Key layer, charges stored in PostgreSQL (both replicas share
it). `no_key`: no layer, every retry of a key is another charge; charges are lines in the file
`DRILL_EFFECTS_FILE` names, so two replicas count together.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import PoolConfig, PostgresPool, Service, idempotency_context, idempotent
from hardened.drill import DrillConfig, DrillHooks, DrillRequest
from hardened.idempotency import Idempotency, PostgresIdempotencyStore
from tests.apps.idempotency_memory import tenant_of

CHARGE = DrillRequest(
    path="/charges",
    method="POST",
    headers={"Authorization": "Bearer drill-tenant", "Content-Type": "application/json"},
    body='{"amount": 100, "currency": "EUR"}',
)


def _ledger() -> Path:
    return Path(os.environ["DRILL_EFFECTS_FILE"])


async def charge(request: Request) -> Response:
    body = await request.body()
    with _ledger().open("ab") as ledger:
        ledger.write(body.replace(b"\n", b" ") + b"\n")
    return JSONResponse({"charged": True}, status_code=201)


async def charges() -> int:
    """How many charges the ledger holds."""
    ledger = _ledger()
    return len(ledger.read_bytes().splitlines()) if ledger.exists() else 0


no_key = Service(
    "no-idempotency",
    routes=[Route("/charges", charge, methods=["POST"])],
    mechanisms=[
        DrillHooks(
            DrillConfig(
                idempotent=CHARGE,
                effects=charges,
            )
        )
    ],
)


async def _schema(pool: PostgresPool) -> None:
    await pool.execute("CREATE TABLE IF NOT EXISTS drill_charges (id serial, body text)")


db = PostgresPool(PoolConfig(max_size=10, min_size=1), name="db", on_start=_schema)


@idempotent(transaction=True)
async def charge_once(request: Request) -> Response:
    body = (await request.body()).decode()
    context = idempotency_context(request)
    assert context is not None
    async with context.connection() as conn, conn.transaction():
        await conn.execute("INSERT INTO drill_charges (body) VALUES ($1)", body)
        response = JSONResponse({"charged": True}, status_code=201)
        await context.complete_in(conn, response)
    return response


async def stored_charges() -> int:
    """How many charges the database holds."""
    count = await db.fetchval("SELECT count(*) FROM drill_charges")
    return int(count)


with_key = Service(
    "with-idempotency",
    routes=[Route("/charges", charge_once, methods=["POST"])],
    mechanisms=[
        db,
        Idempotency(PostgresIdempotencyStore(db), scope=tenant_of),
        DrillHooks(DrillConfig(idempotent=CHARGE, effects=stored_charges, postgres=True)),
    ],
)
