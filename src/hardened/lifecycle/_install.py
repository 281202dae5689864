"""The lifecycle mechanism: its stage in the `lifecycle` slot, its gate, its state."""

from __future__ import annotations

from hardened.gates import Installer
from hardened.lifecycle._config import LifecycleConfig
from hardened.lifecycle._gate import LifecycleGate
from hardened.lifecycle._stage import LifecycleStage
from hardened.lifecycle._state import LifecycleStats, lifecycle_state

__all__ = ["Lifecycle"]


class Lifecycle:
    """Body limit and in-flight bound at the edge; signals, PID 1 and slow clients in the gate.

    Publishes the facts the server reads: ``lifecycle.config`` and ``lifecycle.gate`` (where
    `hardened run` records the timeouts its protocols enforce).
    """

    def __init__(self, config: LifecycleConfig | None = None) -> None:
        self.config = config or LifecycleConfig()
        self.stats = LifecycleStats()

    def install(self, service: Installer) -> None:
        """Fill the lifecycle slot, register the gate, publish state and facts."""
        service.add_layer(LifecycleStage(self.config, self.stats, service.app))
        gate = LifecycleGate(self.config, service, self.stats)
        service.register_gate(gate)
        service.track_state(
            "lifecycle",
            "edge",
            lambda: lifecycle_state(
                self.config, self.stats, lambda: gate.runner.stats if gate.runner else None
            ),
        )
        service.publish_fact("lifecycle.config", lambda: self.config)
        service.publish_fact("lifecycle.gate", lambda: gate)
