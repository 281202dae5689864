"""The breaker gate: what it lists, when it passes, warns and fails, and the fact it publishes."""

from __future__ import annotations

import pytest

from hardened import ConfigError, Service, Tier
from hardened.breaker import DEPENDENCIES_FACT, BreakerConfig
from hardened.outbound import Dependency, DependencyConfig
from hardened.retry import RetryConfig
from hardened.testing import FakeClock


def breaker_gate(service: Service, tier: Tier | None = None) -> dict[str, object]:
    gates = service.report(tier)["gates"]
    gate: dict[str, object] = next(g for g in gates if g["name"] == "breaker")
    return gate


def test_a_service_that_calls_nothing_outside_passes() -> None:
    """No dependency and no outbound client: pass, saying what was looked for."""
    gate = breaker_gate(Service("quiet", tier="critical"))
    assert gate["status"] == "pass"
    evidence = gate["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["dependencies"] == []
    assert evidence["bypassing_clients"] == []
    assert "looked_for" in evidence


def test_each_dependency_is_listed_with_its_limits() -> None:
    """The evidence shows the attempt timeout, breaker, bulkhead and retry policy in force."""
    config = DependencyConfig(attempt_timeout=1.5, breaker=BreakerConfig(min_calls=30))
    service = Service("payments", mechanisms=[Dependency("processor", config)])
    gate = breaker_gate(service)
    evidence = gate["evidence"]
    assert isinstance(evidence, dict)
    (listed,) = evidence["dependencies"]
    assert listed["name"] == "processor"
    assert listed["attempt_timeout_s"] == 1.5
    assert listed["breaker"]["min_calls"] == 30
    assert listed["breaker"]["state"] == "closed"
    assert listed["bulkhead"]["max_concurrent"] == 25
    assert listed["retry"]["attempts"] == 3
    assert listed["retry"]["jitter"] == "full"
    assert gate["status"] == "pass"


def test_clients_that_bypass_a_dependency_fail_from_standard() -> None:
    """A module-global httpx client outside any Dependency fails standard, warns internal."""
    from tests.apps.breaker_bypass import app

    gate = breaker_gate(app, Tier.STANDARD)
    evidence = gate["evidence"]
    assert isinstance(evidence, dict)
    where = [client["where"] for client in evidence["bypassing_clients"]]
    assert where == ["tests.apps.breaker_bypass.raw"]
    assert gate["status"] == "fail"
    assert breaker_gate(app, Tier.INTERNAL)["status"] == "warn"


def test_an_open_breaker_degrades_the_gate_not_readiness(fake_clock: FakeClock) -> None:
    """An open breaker turns the gate to warn with a 'degraded' caveat; readiness is untouched."""
    dependency = Dependency("processor", clock=fake_clock)
    service = Service("payments", mechanisms=[dependency], clock=fake_clock)
    ready_before = service.readiness()
    dependency.breaker.force_open()
    gate = breaker_gate(service)
    assert gate["status"] == "warn"
    caveats = gate["caveats"]
    assert isinstance(caveats, tuple | list)
    assert caveats[0] == "degraded: processor breaker is forced_open"
    assert service.readiness() == ready_before


def test_the_retry_policy_of_each_dependency_is_published_for_the_idempotency_gate() -> None:
    """`breaker.dependencies` names each dependency, its retry policy and unsafe-retry rule."""
    keyless = Dependency("ledger", DependencyConfig(retry=RetryConfig(retry_with_key=False)))
    service = Service("payments", mechanisms=[Dependency("processor"), keyless])
    facts = service.fact(DEPENDENCIES_FACT)
    assert [(f["name"], f["unsafe_retry_with_key"]) for f in facts] == [
        ("processor", True),
        ("ledger", False),
    ]
    assert facts[0]["attempts"] == 3
    assert facts[0]["idempotency_header"] == "Idempotency-Key"


def test_two_dependencies_with_one_name_are_refused() -> None:
    """A second Dependency under a name already registered is a ConfigError."""
    with pytest.raises(ConfigError, match="already registered"):
        Service("payments", mechanisms=[Dependency("processor"), Dependency("processor")])
