"""The shutdown budget: preStop + delay + drain + teardown + margin ≤ the grace period.

Kubernetes starts the grace period when the pod is deleted; the preStop hook runs first and
SIGTERM only follows it, so every term comes out of the same clock. Spring's and lightship's
defaults overrun it; these defaults add up to exactly 30 s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hardened.shutdown._config import DEFAULT_DEREGISTRATION_DELAY, ShutdownConfig
from hardened.shutdown._manifest import PodShutdownSpec, read_manifest

__all__ = ["ShutdownBudget", "resolve_budget", "settings_budget"]

WATCHDOG_LEAD = 1.0  # the watchdog fires this long before the grace period ends


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownBudget:
    """The effective terms of one service's shutdown, and where each came from."""

    grace_period: float
    grace_source: str
    prestop: float
    prestop_source: str
    deregistration_delay: float
    delay_reason: str
    drain: float
    teardown: float
    teardown_step: float
    margin: float
    orchestrated: bool
    manifest: PodShutdownSpec | None = None

    @property
    def total(self) -> float:
        """preStop + delay + drain + teardown + margin."""
        terms = (self.prestop, self.deregistration_delay, self.drain, self.teardown, self.margin)
        return round(sum(terms), 3)

    @property
    def fits(self) -> bool:
        """Whether the sequence ends inside the grace period."""
        return self.total <= self.grace_period

    @property
    def watchdog_after(self) -> float:
        """Seconds after SIGTERM at which the watchdog exits hard (grace - preStop - 1 s)."""
        return max(self.grace_period - self.prestop - WATCHDOG_LEAD, 0.0)

    def terms(self) -> dict[str, Any]:
        """Every term with its value in force, for the gate's evidence and the docs."""
        return {
            "prestop_sleep_s": self.prestop,
            "deregistration_delay_s": self.deregistration_delay,
            "drain_timeout_s": self.drain,
            "teardown_timeout_s": self.teardown,
            "teardown_step_timeout_s": self.teardown_step,
            "margin_s": self.margin,
            "total_s": self.total,
            "grace_period_s": self.grace_period,
            "fits": self.fits,
            "watchdog_after_sigterm_s": self.watchdog_after,
            "sources": {
                "grace_period": self.grace_source,
                "prestop_sleep": self.prestop_source,
                "deregistration_delay": self.delay_reason,
            },
        }


def _orchestrated(config: ShutdownConfig, environ: Mapping[str, str]) -> bool:
    if config.orchestrated is not None:
        return config.orchestrated
    return config.manifest is not None or "KUBERNETES_SERVICE_HOST" in environ


def resolve_budget(
    config: ShutdownConfig, environ: Mapping[str, str] | None = None
) -> ShutdownBudget:
    """The budget in force: manifest values over settings; raises ConfigError on a bad file."""
    environ = os.environ if environ is None else environ
    manifest = None
    grace, grace_source = config.grace_period, "setting grace_period"
    prestop, prestop_source = config.prestop_sleep, "setting prestop_sleep"
    if config.manifest is not None:
        manifest = read_manifest(config.manifest, config.container)
        grace = manifest.grace_period
        grace_source = (
            f"{manifest.path} ({manifest.workload})"
            if manifest.grace_declared
            else f"Kubernetes default (not declared in {manifest.path})"
        )
        prestop = manifest.prestop_sleep
        prestop_source = f"{manifest.path} preStop {manifest.prestop or 'none'}"
    orchestrated = _orchestrated(config, environ)
    if config.deregistration_delay is not None:
        delay, reason = config.deregistration_delay, "setting deregistration_delay"
    elif prestop > 0:
        delay, reason = 0.0, f"0: the preStop sleep ({prestop:g}s) deregisters first"
    elif not orchestrated:
        delay, reason = 0.0, "0: no orchestrator detected (no manifest, no KUBERNETES_SERVICE_HOST)"
    else:
        delay, reason = DEFAULT_DEREGISTRATION_DELAY, "default under an orchestrator"
    return ShutdownBudget(
        grace_period=grace,
        grace_source=grace_source,
        prestop=prestop,
        prestop_source=prestop_source,
        deregistration_delay=delay,
        delay_reason=reason,
        drain=config.drain_timeout,
        teardown=config.teardown_timeout,
        teardown_step=config.teardown_step_timeout,
        margin=config.margin,
        orchestrated=orchestrated,
        manifest=manifest,
    )


def settings_budget(config: ShutdownConfig) -> ShutdownBudget:
    """The budget from the settings alone: what a shutdown uses when the manifest is unusable."""
    source = "setting (manifest unusable)"
    return ShutdownBudget(
        grace_period=config.grace_period,
        grace_source=source,
        prestop=config.prestop_sleep,
        prestop_source=source,
        deregistration_delay=config.deregistration_delay or 0.0,
        delay_reason=source,
        drain=config.drain_timeout,
        teardown=config.teardown_timeout,
        teardown_step=config.teardown_step_timeout,
        margin=config.margin,
        orchestrated=False,
    )
