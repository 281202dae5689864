"""The shutdown budget and its gate: every term reported, a budget that does not fit fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hardened import ConfigError, Service, Status, Tier
from hardened.shutdown import ShutdownConfig, ShutdownGate, ShutdownManager, resolve_budget

DEPLOY = Path(__file__).resolve().parent.parent / "examples/payments_api/deploy/kubernetes"


def _gate(
    config: ShutdownConfig, tier: Tier = Tier.STANDARD
) -> tuple[Status, dict[str, Any], list[str]]:
    service = Service("svc", shutdown=config)
    result = service.gates.gate("shutdown").check(tier)
    return result.status, dict(result.evidence), list(result.caveats)


def _manifest(tmp_path: Path, pod_spec: str) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n"
        "  template:\n    spec:\n" + pod_spec
    )
    return path


def test_defaults_add_up_to_the_kubernetes_grace_period() -> None:
    """Under an orchestrator: 0 + 5 + 17 + 5 + 3 = 30 s, which fits 30 s exactly."""
    budget = resolve_budget(ShutdownConfig(), {"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert budget.terms()["total_s"] == 30.0
    assert budget.deregistration_delay == 5.0
    assert budget.fits
    assert budget.watchdog_after == 29.0


def test_delay_is_zero_without_an_orchestrator_or_with_a_prestop_sleep() -> None:
    """The delay is neither doubled by a preStop sleep nor paid locally."""
    assert resolve_budget(ShutdownConfig(), {}).deregistration_delay == 0.0
    with_prestop = resolve_budget(ShutdownConfig(prestop_sleep=5, orchestrated=True), {})
    assert with_prestop.deregistration_delay == 0.0
    assert with_prestop.watchdog_after == 24.0, "preStop time is spent before SIGTERM"


def test_a_budget_that_does_not_fit_fails_the_gate_with_every_term() -> None:
    """preStop 10 + drain 30 against a 30 s grace period fails, naming each term."""
    status, evidence, caveats = _gate(
        ShutdownConfig(prestop_sleep=10, drain_timeout=30, grace_period=30)
    )
    assert status is Status.FAIL
    terms = evidence["budget"]
    assert (terms["prestop_sleep_s"], terms["drain_timeout_s"], terms["grace_period_s"]) == (
        10,
        30,
        30,
    )
    assert terms["total_s"] == 48.0
    assert terms["fits"] is False
    assert caveats[0] == (
        "fail: preStop 10 + delay 0 + drain 30 + teardown 5 + margin 3 = 48s exceeds the "
        "grace period 30s (setting grace_period)"
    )


def test_the_shipped_manifest_fits_and_the_gate_reads_it() -> None:
    """The payments deploy manifest: grace 30, preStop sleep 5, probes /livez and /readyz."""
    status, evidence, caveats = _gate(ShutdownConfig(manifest=DEPLOY / "deployment.yaml"))
    assert status is Status.PASS, caveats
    terms = evidence["budget"]
    assert (terms["grace_period_s"], terms["prestop_sleep_s"]) == (30.0, 5.0)
    assert terms["deregistration_delay_s"] == 0.0
    assert terms["total_s"] == 30.0
    assert "deployment.yaml (Deployment/payments-api)" in terms["sources"]["grace_period"]
    assert evidence["manifest"]["readiness_probe"] == "/readyz"
    assert evidence["deregistration_before_drain"] is True


def test_manifest_grace_period_overrides_the_setting(tmp_path: Path) -> None:
    """A shorter grace period in the manifest fails a budget that fits the setting."""
    path = _manifest(
        tmp_path,
        "      terminationGracePeriodSeconds: 20\n"
        "      containers:\n        - name: api\n"
        "          lifecycle:\n            preStop:\n              exec:\n"
        '                command: ["/bin/sh", "-c", "sleep 5"]\n'
        "          readinessProbe:\n            httpGet:\n              path: /readyz\n",
    )
    status, evidence, caveats = _gate(ShutdownConfig(manifest=path, grace_period=60))
    assert status is Status.FAIL
    assert evidence["budget"]["grace_period_s"] == 20.0
    assert evidence["budget"]["prestop_sleep_s"] == 5.0
    assert evidence["manifest"]["prestop"] == "exec sleep"
    assert "exceeds the grace period 20s" in caveats[0]


def test_manifest_problems_fail_the_gate(tmp_path: Path) -> None:
    """An unmeasurable preStop hook and a readiness probe on the wrong path both fail."""
    path = _manifest(
        tmp_path,
        "      containers:\n        - name: api\n"
        "          lifecycle:\n            preStop:\n              httpGet:\n"
        "                path: /drain\n                port: 8000\n"
        "          readinessProbe:\n            httpGet:\n              path: /health\n",
    )
    status, evidence, caveats = _gate(ShutdownConfig(manifest=path))
    assert status is Status.FAIL
    assert evidence["budget"]["sources"]["grace_period"].startswith("Kubernetes default")
    assert any("preStop hook (httpGet)" in c for c in caveats)
    assert any("readiness probe is '/health'" in c for c in caveats)


def test_unreadable_manifest_fails_the_gate_with_the_reason(tmp_path: Path) -> None:
    """A manifest that is missing fails the gate; it is never silently ignored."""
    status, evidence, _ = _gate(ShutdownConfig(manifest=tmp_path / "missing.yaml"))
    assert status is Status.FAIL
    assert "cannot read the deploy manifest" in evidence["error"]


def test_unverified_grace_period_warns_and_disabled_mechanism_fails() -> None:
    """Without a manifest the gate warns (standard); with shutdown=None it fails."""
    status, _, caveats = _gate(ShutdownConfig())
    assert status is Status.WARN
    assert caveats[0].startswith("warn: the grace period (30s) is a setting")
    assert _gate(ShutdownConfig(), Tier.INTERNAL)[0] is Status.PASS
    off = Service("svc", shutdown=None).gates.gate("shutdown").check(Tier.STANDARD)
    assert off.status is Status.FAIL
    assert not isinstance(Service("svc", shutdown=None).gates.gate("shutdown"), ShutdownGate)


def test_disabled_watchdog_fails_at_critical() -> None:
    """Without the watchdog a stuck drain ends in SIGKILL; critical services must keep it."""
    status, _, caveats = _gate(ShutdownConfig(watchdog=False), Tier.CRITICAL)
    assert status is Status.FAIL
    assert any(c.startswith("watchdog disabled") for c in caveats)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"drain_timeout": 0}, "drain_timeout must be positive"),
        ({"grace_period": -1}, "grace_period must be a finite number"),
        ({"teardown_step_timeout": 6, "teardown_timeout": 5}, "exceeds teardown_timeout"),
        ({"margin": 0.5}, "margin must be at least 1 s"),
        ({"deregistration_delay": float("inf")}, "deregistration_delay must be a finite"),
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, float], message: str) -> None:
    """Every duration is finite and sane; the watchdog's second must fit in the margin."""
    with pytest.raises(ConfigError, match=message):
        ShutdownConfig(**settings)  # type: ignore[arg-type]


def test_manager_is_a_component_and_sets_the_teardown_step_timeout() -> None:
    """Handlers fetch the manager by type; components stop under the configured step timeout."""
    service = Service("svc", shutdown=ShutdownConfig(teardown_step_timeout=1.5))
    assert isinstance(service.components.get(ShutdownManager), ShutdownManager)
    assert service.components.stop_timeout == 1.5


def test_payments_api_budget_fits_its_own_deploy_manifest() -> None:
    """The reference service checks its shutdown budget against its Kubernetes manifest."""
    from examples.payments_api.app import service

    result = service.gates.gate("shutdown").check(Tier.CRITICAL)
    assert result.status is Status.PASS, result.caveats
    assert result.evidence["manifest"]["workload"] == "Deployment/payments-api"


def test_dockerfile_runs_tini_as_pid_1_in_exec_form() -> None:
    """The image's PID 1 is tini (forwards SIGTERM, reaps zombies), never a shell."""
    lines = (DEPLOY.parent / "Dockerfile").read_text().splitlines()
    entrypoint = [line for line in lines if line.startswith("ENTRYPOINT")]
    command = [line for line in lines if line.startswith("CMD")]
    assert entrypoint == ['ENTRYPOINT ["/usr/bin/tini", "--"]']
    assert command
    assert command[0].startswith('CMD ["hardened", "run"')


def test_a_prestop_sleep_and_an_in_app_delay_together_warn_the_delay_is_paid_twice() -> None:
    """preStop 5 s plus an explicit 5 s delay: the gate warns that the delay is doubled."""
    config = ShutdownConfig(
        prestop_sleep=5, deregistration_delay=5, drain_timeout=10, grace_period=30
    )
    status, evidence, caveats = _gate(config)
    assert status is Status.WARN
    assert "warn: both a preStop sleep and an in-app delay: the delay is doubled" in caveats
    assert evidence["deregistration_before_drain"] is True


def test_no_deregistration_under_an_orchestrator_warns() -> None:
    """Orchestrated, no preStop sleep and delay 0: the gate warns the drain starts too early."""
    config = ShutdownConfig(orchestrated=True, deregistration_delay=0, grace_period=30)
    status, evidence, caveats = _gate(config)
    assert status is Status.WARN
    assert (
        "warn: no preStop sleep and no delay: the drain starts while load balancers "
        "still route here"
    ) in caveats
    assert evidence["deregistration_before_drain"] is False
    assert evidence["orchestrated"] is True


def test_one_deregistration_step_under_an_orchestrator_raises_neither_warning() -> None:
    """Orchestrated with the default in-app delay only: neither deregistration warning."""
    _, evidence, caveats = _gate(ShutdownConfig(orchestrated=True, grace_period=30))
    assert evidence["deregistration_before_drain"] is True
    assert not any("preStop" in caveat for caveat in caveats)
