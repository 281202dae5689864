"""A service declared for drills the way the payments demo is: no slow route, no CPU-heavy one.

Its `outbound` request (a new Idempotency-Key per send) is made slow through the dependency's
fault hook for the deadline and shutdown drills, and its cheap `cpu` request is given CPU
through `POST /drill/cpu` for the overload drill. Each variant below the good one leaves one
gate's failure open; that drill must fail on it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.breaker import BreakerConfig
from hardened.deadline import DeadlineConfig
from hardened.drill import DrillConfig, DrillHooks, DrillRequest
from hardened.outbound import Dependency, DependencyConfig
from hardened.retry import RetryConfig
from hardened.shed import Priority, ShedConfig
from hardened.shutdown import ShutdownConfig

LEDGER = DependencyConfig(
    attempt_timeout=0.5,
    total_timeout=1.5,
    breaker=BreakerConfig(window=2.0, min_calls=10, open_for=1.0, probes=2),
    retry=RetryConfig(max_delay=0.2, retry_after_cap=0.2),
)
SHED = ShedConfig(
    route_priorities=(("/orders", Priority.CRITICAL), ("/catalog", Priority.SHEDDABLE))
)
ORDER = DrillRequest(
    path="/orders",
    method="POST",
    headers={"Content-Type": "application/json"},
    body='{"sku": "drill"}',
    key_header="Idempotency-Key",
)


async def recorded() -> str:
    return "recorded"


def build(name: str, *, outbound: DrillRequest = ORDER, **options: Any) -> Service:
    """The lean service; `options` replace its `Service` settings."""
    ledger = Dependency("ledger", LEDGER)

    async def order(request: Request) -> Response:
        key = request.headers["idempotency-key"]
        return JSONResponse({"ledger": await ledger.call(recorded, idempotency_key=key)}, 201)

    async def catalog(request: Request) -> Response:
        return JSONResponse({"items": ["tea", "coffee"]})

    hooks = DrillHooks(
        DrillConfig(
            outbound=outbound,
            critical=outbound,
            cpu=DrillRequest(path="/catalog"),
            dependencies=["ledger"],
        )
    )
    settings: dict[str, Any] = {
        "deadline": DeadlineConfig(default_timeout=5.0),
        "shed": SHED,
        **options,
    }
    routes = [Route("/orders", order, methods=["POST"]), Route("/catalog", catalog)]
    return Service(name, routes=routes, mechanisms=[ledger, hooks], **settings)


app = build("drill-lean")
# Its outbound request declared safe (it only records): still, making the ledger slow would
# delay every caller of it, so a running instance is not drilled that way without --allow.
safe_outbound = build("lean-safe-outbound", outbound=replace(ORDER, safe=True))
# No deadline: the caller's 5 ms are ignored and the order waits on the slow ledger (the
# shedder does not drop it as late either, whatever the request queued for).
no_deadline = build("lean-no-deadline", deadline=None, shed=replace(SHED, drop_late=False))
# A drain shorter than the ledger's slowness: SIGTERM cuts the orders in flight.
short_drain = build("lean-short-drain", shutdown=ShutdownConfig(drain_timeout=0.1))
# No shedder: 3x the cheap catalog, made CPU-bound, queues instead of being refused.
unshed = build("lean-unshed", shed=None)
