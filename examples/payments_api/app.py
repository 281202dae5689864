"""The payments API on `hardened.Service`: explicit wiring, a Postgres pool, problem+json errors.

Run it with `make run` (embedded PostgreSQL) or `hardened run examples.payments_api.app:app`
with `DATABASE_URL` set.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service, component
from hardened.observe import SLO
from hardened.pool import PoolConfig, PostgresPool
from hardened.problems import problem_body
from hardened.shutdown import ShutdownConfig

SCHEMA = (Path(__file__).parent / "schema.sql").read_text()
# The shutdown gate checks its budget against the grace period and preStop sleep declared here.
DEPLOYMENT = Path(__file__).parent / "deploy" / "kubernetes" / "deployment.yaml"


def _not_found(detail: str) -> Response:
    body = problem_body(404, "Not found", detail=detail)
    return Response(body, status_code=404, media_type="application/problem+json")


async def get_payment(request: Request) -> Response:
    """`GET /payments/{id}`: one payment, or 404 problem+json."""
    try:
        payment_id = uuid.UUID(request.path_params["payment_id"])
    except ValueError:
        return _not_found("no such payment")
    pool = component(request, PostgresPool)
    row = await pool.fetchrow(
        "SELECT id, amount, currency, status, created_at FROM payments WHERE id = $1",
        payment_id,
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


async def apply_schema(pool: PostgresPool) -> None:
    """Create the tables at start (idempotent DDL)."""
    await pool.execute(SCHEMA)


# The pool reads DATABASE_URL at start (make run starts an embedded PostgreSQL). Sizing, per
# replica: 200 requests/s at peak x 10 ms per request's hold = 2 connections busy; 10 leaves
# room, and 10 x 4 pods (3 replicas + a surge of 1, from the manifest) fits max_connections.
database = PostgresPool(
    PoolConfig(max_size=10, acquire_timeout=1.0, command_timeout=5.0, peak_rps=200, hold_time=0.01),
    name="payments-db",
    on_start=apply_schema,
)


service = Service(
    "payments-api",
    tier="critical",
    routes=[Route("/payments/{payment_id}", get_payment, methods=["GET"])],
    shutdown=ShutdownConfig(manifest=DEPLOYMENT, container="api"),
    mechanisms=[database],
    slos=[
        SLO(name="availability", objective=0.999, description="non-5xx answers"),
        SLO(name="latency", objective=0.99, latency=0.5, description="non-5xx within 500 ms"),
    ],
)

app = service
