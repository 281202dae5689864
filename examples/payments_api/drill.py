"""The payments API with its drill hooks declared: what `make drill` runs.

`make drill` starts the processor stand-in, then `hardened drill examples.payments_api.drill:app`
with `PAYMENTS_API_KEYS` holding the drill's own tenant (`DRILL_TENANT`): every payment a drill
makes belongs to that tenant. The hooks answer on the admin listener only, and only with the
token the drill hands the process.
"""

from __future__ import annotations

from examples.payments_api.app import service
from hardened.drill import DrillConfig, DrillHooks, DrillRequest
from hardened.pool import Pools, PostgresPool

DRILL_TENANT, DRILL_KEY = "drill", "sk_test_drill_tenant_only"
AUTH = {"Authorization": f"Bearer {DRILL_KEY}", "Content-Type": "application/json"}

# A read of a payment that does not exist: one checkout and one query, nothing written.
LOOKUP = DrillRequest(
    path="/payments/00000000-0000-0000-0000-000000000000", headers=AUTH, safe=True
)
# A payment in the drill's tenant; the idempotency drill sends it 20 times with one key.
PAYMENT = DrillRequest(
    path="/payments",
    method="POST",
    headers=AUTH,
    body='{"amount": 1999, "currency": "EUR", "source": "tok_visa", "description": "drill"}',
)

registry = service.fact("pool.registry")
pools: list[PostgresPool] = list(registry) if isinstance(registry, Pools) else []


async def drill_payments() -> int:
    """Payments the drill's tenant holds (the idempotency drill's effect)."""
    count = await pools[0].fetchval("SELECT count(*) FROM payments WHERE tenant = $1", DRILL_TENANT)
    return int(count)


service.use(
    DrillHooks(
        DrillConfig(
            database=LOOKUP,
            idempotent=PAYMENT,
            effects=drill_payments,
            pools=pools,
            postgres=True,
        )
    )
)
app = service
