"""The payments API on `hardened.Service`: explicit wiring, a Postgres pool, problem+json errors.

Run it with `make run` (embedded PostgreSQL) or `hardened run examples.payments_api.app:app`
with `DATABASE_URL` set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service, component
from hardened.deadline import cap
from hardened.observe import SLO
from hardened.problems import problem_body
from hardened.shutdown import ShutdownConfig

SCHEMA = (Path(__file__).parent / "schema.sql").read_text()
# The shutdown gate checks its budget against the grace period and preStop sleep declared here.
DEPLOYMENT = Path(__file__).parent / "deploy" / "kubernetes" / "deployment.yaml"
QUERY_TIMEOUT = 5.0  # seconds; also the pool's command_timeout


def _not_found(detail: str) -> Response:
    body = problem_body(404, "Not found", detail=detail)
    return Response(body, status_code=404, media_type="application/problem+json")


async def get_payment(request: Request) -> Response:
    """`GET /payments/{id}`: one payment, or 404 problem+json."""
    try:
        payment_id = uuid.UUID(request.path_params["payment_id"])
    except ValueError:
        return _not_found("no such payment")
    pool = component(request, asyncpg.Pool)
    row = await pool.fetchrow(
        "SELECT id, amount, currency, status, created_at FROM payments WHERE id = $1",
        payment_id,
        timeout=cap(QUERY_TIMEOUT),  # the query never outlives the request's budget
    )
    if row is None:
        return _not_found("no such payment")
    return JSONResponse(
        {
            "id": str(row["id"]),
            "amount": row["amount"],
            "currency": row["currency"].strip(),
            "status": row["status"],
            "created_at": row["created_at"].isoformat(),
        }
    )


async def database_pool() -> AsyncIterator[asyncpg.Pool]:
    """The Postgres pool: bounded, with a command timeout; the schema is applied at start."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set (make run starts an embedded PostgreSQL)")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=10, command_timeout=QUERY_TIMEOUT)
    try:
        await pool.execute(SCHEMA)
        yield pool
    finally:
        await pool.close()


service = Service(
    "payments-api",
    tier="critical",
    routes=[Route("/payments/{payment_id}", get_payment, methods=["GET"])],
    shutdown=ShutdownConfig(manifest=DEPLOYMENT, container="api"),
    slos=[
        SLO(name="availability", objective=0.999, description="non-5xx answers"),
        SLO(name="latency", objective=0.99, latency=0.5, description="non-5xx within 500 ms"),
    ],
)
# Every query passes timeout=cap(...): the pool reads the request budget. Connecting and
# applying the schema may take longer than the default start timeout on a cold database.
service.components.provide(asyncpg.Pool, deadline="reads", start_timeout=30.0)(database_pool)

app = service
