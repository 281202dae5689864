"""install_loop(): the loop gate's components and gate on a Service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hardened.loop._config import LoopConfig
from hardened.loop._gate import LoopGate
from hardened.loop._monitor import LoopMonitor
from hardened.loop._offload import Offloader

if TYPE_CHECKING:
    from hardened.service import Service

__all__ = ["install_loop"]


def install_loop(service: Service, config: LoopConfig) -> LoopMonitor:
    """Register the monitor and the offload pool (started first, stopped last) and the gate."""
    monitor = LoopMonitor(config, registry=service.metrics_registry)
    offloader = Offloader(max_workers=config.offload_workers, metrics=monitor.metrics)
    service.components.register(LoopMonitor, monitor.running)
    service.components.register(Offloader, offloader.running)
    service.gates.register(LoopGate(monitor, offloader, service))
    service.publish_fact("loop.offload", lambda: offloader)
    service.mechanisms.track(
        "loop",
        "event_loop",
        lambda: {
            "state": monitor.state,
            "blocked_total": monitor.blocked_total,
            "blocked_seconds_total": monitor.blocked_seconds,
            "stalls_total": monitor.stalls_total,
        },
    )
    service.mechanisms.track(
        "offload",
        "threads",
        lambda: {
            "max_workers": config.offload_workers,
            "busy": offloader.busy,
            "abandoned_total": offloader.abandoned,
        },
        gate="loop",
    )
    return monitor
