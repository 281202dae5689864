"""The payments API with its drill hooks declared: what `make drill` runs.

`hardened drill examples.payments_api.drill:app` starts it (with a scratch PostgreSQL when
`DATABASE_URL` is unset) and drills every gate it can; the hooks answer on the admin
listener only, and only with the token the drill hands the process.
"""

from __future__ import annotations

from examples.payments_api.app import service
from hardened.drill import DrillConfig, DrillHooks, DrillRequest
from hardened.pool import Pools

# A read of a payment that does not exist: one checkout and one query, nothing written.
LOOKUP = DrillRequest(path="/payments/00000000-0000-0000-0000-000000000000", safe=True)

registry = service.fact("pool.registry")
pools = list(registry) if isinstance(registry, Pools) else []
service.use(DrillHooks(DrillConfig(database=LOOKUP, pools=pools, postgres=True)))
app = service
