"""The shutdown mechanism: the manager as a component, the drain stage, the gate, the state."""

from __future__ import annotations

from hardened.gates import Installer
from hardened.shutdown._config import ShutdownConfig
from hardened.shutdown._gate import ShutdownGate
from hardened.shutdown._manager import ShutdownManager
from hardened.shutdown._stage import DrainStage
from hardened.shutdown._state import shutdown_state

__all__ = ["Shutdown"]


class Shutdown:
    """Graceful shutdown: deregister, drain within the grace period, tear down in reverse.

    Handlers and workers fetch the `ShutdownManager` by type; `hardened run` drives it.
    """

    def __init__(self, config: ShutdownConfig | None = None) -> None:
        self.manager = ShutdownManager(config)

    def install(self, service: Installer) -> None:
        """Register the manager (a component value), the drain stage, the gate and the state."""
        manager = self.manager
        manager.service = service
        manager.clock = service.clock
        service.components.register_value(ShutdownManager, manager)
        service.components.stop_timeout = manager.config.teardown_step_timeout
        service.add_layer(DrainStage(manager))
        service.register_gate(ShutdownGate(manager))
        service.track_state("shutdown", "process", lambda: shutdown_state(manager))
        service.publish_fact("shutdown.manifest", lambda: manager.budget().manifest)
