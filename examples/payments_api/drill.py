"""The payments API with its drill hooks declared: what `make drill` runs, and what a staging
replica or a canary runs to be drilled with `hardened drill --url` (production runs `app.py`,
which has no hooks at all).

`make drill` starts the processor stand-in, then `hardened drill examples.payments_api.drill:app`
with `PAYMENTS_API_KEYS` holding the drill's own tenant (`DRILL_TENANT`): every payment a drill
makes belongs to that tenant. The hooks answer on the admin listener only, and only with the
token the drill hands the process (`HARDENED_DRILL_TOKEN`): without one they are off.
"""

from __future__ import annotations

import time

from examples.payments_api.app import DEPLOYMENT, build_service
from hardened import PostgresPool, ShutdownConfig
from hardened.drill import DrillConfig, DrillHooks, DrillRequest

DRILL_TENANT, DRILL_KEY = "drill", "sk_test_drill_tenant_only"
AUTH = {"Authorization": f"Bearer {DRILL_KEY}", "Content-Type": "application/json"}

# A payment in the drill's tenant, a new Idempotency-Key on each send: it calls the processor
# (breaker, deadline and shutdown drills), must be served under overload, and the idempotency
# drill sends it 20 times with one key of its own.
PAYMENT = DrillRequest(
    path="/payments",
    method="POST",
    headers=AUTH,
    body='{"amount": 1999, "currency": "EUR", "source": "tok_visa", "description": "drill"}',
    key_header="Idempotency-Key",
)
# The same route for the body drills: its 16 KiB limit refuses their bodies before any key is
# claimed, and a body that got through would be malformed JSON (400): nothing is ever made.
UPLOAD = DrillRequest(
    path="/payments", method="POST", headers=AUTH, key_header="Idempotency-Key", safe=True
)
# A read of a payment that does not exist: one checkout and one query, nothing written.
LOOKUP = DrillRequest(
    path="/payments/00000000-0000-0000-0000-000000000000", headers=AUTH, safe=True
)
# Sheddable (app.py): the overload drill offers it at 3x what one process serves.
DOCUMENT = DrillRequest(path="/openapi.json")

service = build_service(ShutdownConfig(manifest=DEPLOYMENT, container="api"))


def hold_the_loop(seconds: float) -> None:
    """What a stray synchronous call does to every request: the loop gate must name this line."""
    time.sleep(seconds)


async def drill_payments() -> int:
    """Payments the drill's tenant holds (the idempotency drill's effect)."""
    pool = service.components.get(PostgresPool)
    count = await pool.fetchval("SELECT count(*) FROM payments WHERE tenant = $1", DRILL_TENANT)
    return int(count)


service.use(
    DrillHooks(
        DrillConfig(
            outbound=PAYMENT,
            idempotent=PAYMENT,
            critical=PAYMENT,
            upload=UPLOAD,
            database=LOOKUP,
            cpu=DOCUMENT,
            effects=drill_payments,
            block_loop=hold_the_loop,
            dependencies=["processor"],
            pools=["payments-db"],
            postgres=True,
        )
    )
)
app = service
