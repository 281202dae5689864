"""The deadline mechanism: its stage in the `deadline` slot, its gate, its state."""

from __future__ import annotations

from hardened.deadline._config import DeadlineConfig
from hardened.deadline._gate import DeadlineGate
from hardened.deadline._stage import DeadlineStage, DeadlineStats
from hardened.deadline._state import deadline_state
from hardened.gates import Installer

__all__ = ["Deadline"]


class Deadline:
    """The request budget at the edge. Publishes ``deadline.default_timeout`` (seconds)."""

    def __init__(self, config: DeadlineConfig | None = None) -> None:
        self.config = config or DeadlineConfig()
        self.stats = DeadlineStats()

    def install(self, service: Installer) -> None:
        """Fill the deadline slot, register the gate, publish state and the budget."""
        service.add_layer(DeadlineStage(self.config, service.clock, self.stats, service.app))
        service.register_gate(DeadlineGate(self.config, service, self.stats))
        service.track_state("deadline", "budget", lambda: deadline_state(self.config, self.stats))
        service.publish_fact("deadline.default_timeout", lambda: self.config.default_timeout)
