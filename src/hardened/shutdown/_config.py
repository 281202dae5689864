"""The shutdown settings: phase timeouts, the grace period, and where the deploy manifest is."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from hardened._fields import check_fields
from hardened.errors import ConfigError

__all__ = ["DEFAULT_DEREGISTRATION_DELAY", "ShutdownConfig"]

# Long enough for endpoint removal to reach kube-proxy and the load balancers (lightship and
# the Kubernetes docs use 5 s); replaced by a preStop sleep when the manifest declares one.
DEFAULT_DEREGISTRATION_DELAY = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownConfig:
    """How the service shuts down on SIGTERM (see docs/shutdown.md). Durations are seconds.

    `deregistration_delay=None` chooses: 0 when a preStop sleep is declared or no orchestrator
    is detected, else `DEFAULT_DEREGISTRATION_DELAY`. `manifest` points at the Kubernetes
    manifest whose grace period and preStop hook the budget must fit; without it,
    `grace_period` and `prestop_sleep` say what the platform gives.
    """

    grace_period: float = 30.0
    prestop_sleep: float = 0.0
    deregistration_delay: float | None = None
    drain_timeout: float = 17.0
    teardown_step_timeout: float = 2.0
    teardown_timeout: float = 5.0
    margin: float = 3.0
    manifest: str | os.PathLike[str] | None = None
    container: str | None = None
    orchestrated: bool | None = None
    watchdog: bool = True
    report_path: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        values = {
            "grace_period": self.grace_period,
            "prestop_sleep": self.prestop_sleep,
            "drain_timeout": self.drain_timeout,
            "teardown_step_timeout": self.teardown_step_timeout,
            "teardown_timeout": self.teardown_timeout,
            "margin": self.margin,
        }
        if self.deregistration_delay is not None:
            values["deregistration_delay"] = self.deregistration_delay
        for name, value in values.items():
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, not {value!r}")
        for name in ("grace_period", "drain_timeout", "teardown_step_timeout", "teardown_timeout"):
            if values[name] == 0:
                raise ConfigError(f"{name} must be positive")
        if self.teardown_step_timeout > self.teardown_timeout:
            raise ConfigError(
                f"teardown_step_timeout ({self.teardown_step_timeout}s) exceeds "
                f"teardown_timeout ({self.teardown_timeout}s)"
            )
        # The watchdog fires 1 s before the grace period ends; a smaller margin would let it
        # cut a sequence that is still within its budget.
        if self.margin < 1.0:
            raise ConfigError("margin must be at least 1 s (the watchdog's second lives in it)")
