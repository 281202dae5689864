"""The payments API: every component wired in one place, one `Service` at tier critical.

    PAYMENTS_API_KEYS=acme:sk_test_... DATABASE_URL=postgresql://... \
    PROCESSOR_URL=http://127.0.0.1:8001 hardened run examples.payments_api.app:app

`make run` sets all three (an embedded PostgreSQL, the processor stand-in, a demo key).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Route

from examples.payments_api.auth import ApiKeys, api_keys, principal
from examples.payments_api.gateway import Processor, processor_client
from examples.payments_api.handlers import create_payment, create_refund, get_payment
from examples.payments_api.openapi import openapi
from examples.payments_api.store import apply_schema
from hardened import (
    SLO,
    BreakerConfig,
    DeadlineConfig,
    Dependency,
    DependencyConfig,
    PoolConfig,
    PostgresPool,
    Priority,
    RetryConfig,
    Service,
    ShedConfig,
    ShutdownConfig,
)
from hardened.idempotency import Idempotency, PostgresIdempotencyStore

__all__ = ["DEPLOYMENT", "app", "build_service", "service"]

# The shutdown gate checks its budget against the grace period and preStop sleep declared here.
DEPLOYMENT = Path(__file__).parent / "deploy" / "kubernetes" / "deployment.yaml"


def build_service(shutdown: ShutdownConfig) -> Service:
    """The API with every component wired; `shutdown` says how it leaves a load balancer."""
    # Sizing, per replica: 200 requests/s at peak x 10 ms of hold (two short statements; no
    # connection is held while the processor is called) = 2 connections busy; 10 leaves room,
    # and 10 x 4 pods (3 replicas + a surge of 1, from the manifest) fits max_connections (100).
    database = PostgresPool(
        PoolConfig(
            max_size=10, acquire_timeout=1.0, command_timeout=5.0, peak_rps=200, hold_time=0.01
        ),
        name="payments-db",
        on_start=apply_schema,
    )
    # The processor answers in milliseconds; 1 s per attempt is generous. Three attempts with
    # waits capped at 0.5 s fit the 4 s total, which fits the 5 s budget of the POST routes.
    # The breaker opens at 50 % failures over 10 s (20 calls at least) and fails fast for 5 s.
    processor = Dependency(
        "processor",
        DependencyConfig(
            attempt_timeout=1.0,
            total_timeout=4.0,
            breaker=BreakerConfig(window=10.0, min_calls=20, failure_rate=0.5, open_for=5.0),
            retry=RetryConfig(attempts=3, max_delay=0.5, retry_after_cap=0.5),
        ),
    )
    # Idempotency-Key claims, leases and stored responses live in PostgreSQL beside the
    # payments, so every replica sees every key; keys belong to the tenant of the API key.
    keys = Idempotency(PostgresIdempotencyStore(database), scope=principal)
    service = Service(
        "payments-api",
        tier="critical",
        routes=[
            Route("/payments", create_payment, methods=["POST"]),
            Route("/payments/{payment_id}", get_payment, methods=["GET"]),
            Route("/payments/{payment_id}/refunds", create_refund, methods=["POST"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        deadline=DeadlineConfig(default_timeout=2.0),  # reads; the POST routes have 5 s
        shutdown=shutdown,
        # When the event loop falls behind, the shedder refuses the OpenAPI document first,
        # then reads and refunds (clients retry them with their key); a new payment last.
        shed=ShedConfig(
            route_priorities=(
                ("/openapi.json", Priority.SHEDDABLE),
                ("/payments/", Priority.STANDARD),
                ("/payments", Priority.CRITICAL),
            )
        ),
        mechanisms=[database, keys, processor],
        slos=[
            SLO(name="availability", objective=0.999, description="non-5xx answers"),
            SLO(name="latency", objective=0.99, latency=0.5, description="non-5xx within 500 ms"),
        ],
    )
    service.components.register(ApiKeys, api_keys)
    service.components.register(Processor, processor_client(processor))
    return service


# On Kubernetes: the preStop sleep in deploy/ deregisters the pod, so the in-app delay is 0;
# the shutdown gate checks the budget against that manifest.
service = build_service(ShutdownConfig(manifest=DEPLOYMENT, container="api"))
app = service
