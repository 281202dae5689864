"""The loop mechanism: the monitor and the offload pool as components, the gate, the state."""

from __future__ import annotations

from hardened.gates import Installer
from hardened.heartbeat import Heartbeat
from hardened.loop._config import LoopConfig
from hardened.loop._gate import LoopGate
from hardened.loop._monitor import LoopMonitor
from hardened.loop._offload import Offloader

__all__ = ["Loop"]


class Loop:
    """Loop-lag monitor and blocking-call watchdog; the bounded pool behind `offload()`."""

    def __init__(self, config: LoopConfig | None = None) -> None:
        self.config = config or LoopConfig()
        self.monitor: LoopMonitor | None = None

    def install(self, service: Installer) -> None:
        """Register the monitor and the offload pool (started first, stopped last) and the gate."""
        config = self.config
        heartbeat = Heartbeat(config.interval)  # the loop's one: the shedder beats with it
        monitor = self.monitor = LoopMonitor(
            config, registry=service.metrics_registry, heartbeat=heartbeat
        )
        offloader = Offloader(max_workers=config.offload_workers, metrics=monitor.metrics)
        service.components.register(LoopMonitor, monitor.running)
        service.components.register(Offloader, offloader.running)
        service.register_gate(LoopGate(monitor, offloader, service))
        service.publish_fact("loop.offload", lambda: offloader)
        service.publish_fact("loop.monitor", lambda: monitor)
        service.publish_fact("loop.heartbeat", lambda: heartbeat)
        service.track_state(
            "loop",
            "event_loop",
            lambda: {
                "state": monitor.state,
                "blocked_total": monitor.blocked_total,
                "blocked_seconds_total": monitor.blocked_seconds,
                "stalls_total": monitor.stalls_total,
            },
        )
        service.track_state(
            "offload",
            "threads",
            lambda: {
                "max_workers": config.offload_workers,
                "busy": offloader.busy,
                "abandoned_total": offloader.abandoned,
            },
            gate="loop",
        )
