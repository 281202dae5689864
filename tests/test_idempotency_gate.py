"""The idempotency gate: unsafe routes protected or marked, a durable store, keyed retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from hardened import ConfigError, Dependency, DependencyConfig, Service, Tier
from hardened.gates import Installer
from hardened.idempotency import (
    ClaimRequest,
    Idempotency,
    IdempotencyConfig,
    MemoryIdempotencyStore,
    PostgresIdempotencyStore,
    idempotent,
    not_idempotent,
)
from hardened.retry import RetryConfig
from hardened.testing import FakeClock
from tests.apps.idempotency_memory import build, tenant_of


async def read(request: Request) -> Response:
    return PlainTextResponse("ok")


@idempotent()
async def create(request: Request) -> Response:
    return PlainTextResponse("created", status_code=201)


@not_idempotent("a search: POST only for its long body")
async def search(request: Request) -> Response:
    return PlainTextResponse("found")


async def delete(request: Request) -> Response:
    return PlainTextResponse("deleted")


def _gate(service: Service, tier: Tier | str | None = None) -> dict[str, Any]:
    gate: dict[str, Any] = next(
        g for g in service.report(tier)["gates"] if g["name"] == "idempotency"
    )
    return gate


def test_a_service_with_no_unsafe_route_passes() -> None:
    """Only safe methods: nothing to protect, the gate passes at every tier."""
    service = Service("read-only", routes=[Route("/items", read)])
    for tier in Tier:
        assert _gate(service, tier)["status"] == "pass"


def test_an_unsafe_route_neither_protected_nor_marked_fails_and_is_named() -> None:
    """A DELETE route without a mark fails at standard (warns at internal), listed by path."""
    routes = [Route("/items/{id}", delete, methods=["DELETE"]), Route("/items", read)]
    service = Service("svc", routes=routes)
    gate = _gate(service)
    assert gate["status"] == "fail"
    assert gate["evidence"]["routes"]["unprotected"] == {"/items/{id}": ["DELETE"]}
    assert _gate(service, "internal")["status"] == "warn"


def test_evidence_lists_protected_marked_routes_and_the_durable_store() -> None:
    """Protected routes (mounts included), marked ones with their reason, the store's type."""
    store = PostgresIdempotencyStore(lambda: None)  # type: ignore[arg-type,return-value]
    service = Service(
        "svc",
        routes=[
            Mount("/v1", routes=[Route("/orders", create, methods=["POST"])]),
            Route("/search", search, methods=["POST"]),
        ],
        mechanisms=[Idempotency(store, scope=tenant_of)],
    )
    gate = _gate(service, "critical")
    assert gate["status"] == "pass"
    evidence = gate["evidence"]
    assert evidence["routes"]["protected"] == {"/v1/orders": ["POST"]}
    assert evidence["routes"]["marked_not_idempotent"] == {
        "/search": "a search: POST only for its long body"
    }
    assert evidence["store"] == {
        "type": "postgres",
        "durable": True,
        "table": "hardened_idempotency_keys",
    }
    assert evidence["lease_s"] == 30.0
    assert evidence["retention_s"] == 86400.0


def test_the_memory_store_is_a_caveat_and_fails_at_critical() -> None:
    """A process-local store passes at standard with a caveat and fails at critical."""
    service, _ = build(MemoryIdempotencyStore())
    standard = _gate(service, "standard")
    assert standard["evidence"]["store"] == {"type": "memory", "durable": False}
    assert any("process memory" in c for c in standard["caveats"])
    assert standard["status"] == "pass"
    assert _gate(service, "critical")["status"] == "fail"


def test_a_route_marked_idempotent_without_a_store_fails() -> None:
    """The mark alone protects nothing: the gate fails until a store is installed."""
    service = Service("svc", routes=[Route("/orders", create, methods=["POST"])])
    gate = _gate(service)
    assert gate["status"] == "fail"
    assert any("no store is installed" in c for c in gate["caveats"])


def test_outbound_retries_are_reported_per_dependency() -> None:
    """Each Dependency's retry policy shows; unsafe calls are retried only with a key."""
    keyed = Dependency("processor")
    never = Dependency("ledger", DependencyConfig(retry=RetryConfig(retry_with_key=False)))
    gate = _gate(Service("svc", mechanisms=[keyed, never]))
    assert gate["status"] == "pass"
    retries = {d["name"]: d for d in gate["evidence"]["outbound_retries"]}
    assert retries["processor"]["unsafe_calls_retried"] == "only with an idempotency key"
    assert retries["processor"]["attempts"] == 3
    assert retries["processor"]["jitter"] == "full"
    assert retries["ledger"]["unsafe_calls_retried"] == "never"
    assert "POST" not in retries["ledger"]["retried_methods"]


class CustomOutbound:
    """An outbound layer of a team's own that publishes the same retry facts."""

    def __init__(self, dependencies: list[dict[str, Any]]) -> None:
        self.dependencies = dependencies

    def install(self, service: Installer) -> None:
        """Offer the fact the idempotency gate reads."""
        service.publish_fact("breaker.dependencies", lambda: self.dependencies)


def test_an_outbound_layer_retrying_post_without_a_key_fails_the_gate() -> None:
    """A dependency whose retried methods include POST fails the gate, named."""
    unsafe = {"name": "legacy", "attempts": 3, "retry_methods": ["GET", "POST"]}
    service = Service("svc", breaker=False, mechanisms=[CustomOutbound([unsafe])])
    gate = _gate(service)
    assert gate["status"] == "fail"
    assert any("'legacy' retries ['POST']" in c for c in gate["caveats"])


async def test_claims_replays_and_conflicts_are_exported_as_metrics() -> None:
    """The layer's counters appear as mechanism events on the service's registry."""
    service, _ = build(MemoryIdempotencyStore())
    headers = {"Authorization": "Bearer a", "Idempotency-Key": "k"}
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.post("/orders", json={"item": "x"}, headers=headers)
        await client.post("/orders", json={"item": "x"}, headers=headers)
        await client.post("/orders", json={"item": "y"}, headers=headers)
    text = generate_latest(service.metrics_registry).decode()
    for event, count in (("claims", 1), ("replays", 1), ("mismatches", 1), ("releases", 0)):
        line = f'hardened_mechanism_events_total{{event="{event}",kind="idempotency",name="layer"}}'
        assert f"{line} {float(count)}" in text, event


async def test_stuck_in_progress_keys_show_by_age_after_the_reaper_runs(
    fake_clock: FakeClock,
) -> None:
    """A key claimed and never finished counts as older than 10 leases in the state."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    mechanism = Idempotency(store, scope=tenant_of, config=IdempotencyConfig(lease=1.0))
    Service("svc", mechanisms=[mechanism], clock=fake_clock)
    request = ClaimRequest(scope="a", key="k", fingerprint=b"f", method="POST", route="/orders")
    await store.claim(request, lease=1.0, retention=3600)
    fake_clock.advance(11)
    await mechanism.reap_once(store)
    state = mechanism.stats.state()
    assert state["in_progress_keys"] == 1
    assert state["in_progress_older_than_lease"] == 1
    assert state["in_progress_older_than_10_leases"] == 1


def test_bad_configuration_is_refused_when_it_is_built() -> None:
    """Wrong types, replaying Set-Cookie, a store without a principal scope, a bare exemption."""
    attempts: list[Callable[[], object]] = [
        lambda: IdempotencyConfig(lease="5"),  # type: ignore[arg-type]
        lambda: IdempotencyConfig(replayed_headers=frozenset({"Set-Cookie"})),
        lambda: IdempotencyConfig(lease=60, retention=30),
        lambda: Idempotency(MemoryIdempotencyStore()),
        lambda: not_idempotent(" "),
        lambda: PostgresIdempotencyStore(lambda: None, table="keys; DROP TABLE x"),  # type: ignore[arg-type,return-value]
    ]
    for attempt in attempts:
        with pytest.raises(ConfigError):
            attempt()
