"""Wires the observe gate into a Service: RED layer, SLO trackers, state collector, the gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hardened.observe._config import SLO, ObserveConfig
from hardened.observe._red import ObserveLayer, RedMetrics
from hardened.observe._routes import RouteTemplates
from hardened.observe._slo import SLOCollector

if TYPE_CHECKING:
    from hardened.service import Service

__all__ = ["Observability", "install_observe"]


@dataclass(slots=True)
class Observability:
    """What the observe gate installed on a service (None parts are off)."""

    config: ObserveConfig | None
    slos: tuple[SLO, ...]
    metrics: RedMetrics | None
    routes: RouteTemplates | None


def install_observe(
    service: Service, config: ObserveConfig | None, slos: tuple[SLO, ...]
) -> Observability:
    """Install RED metrics (unless `config` is None), the SLO trackers and the observe gate."""
    from hardened.observe._gate import ObserveGate

    names = [slo.name for slo in slos]
    if len(set(names)) != len(names):
        from hardened.errors import ConfigError

        raise ConfigError(f"SLO names must be unique, got {names}")
    metrics = routes = None
    if config is not None:
        metrics = RedMetrics(service.metrics_registry, config, slos)
        routes = RouteTemplates(service.app)
        service.add_layer(ObserveLayer(metrics, routes, service.clock))
        if metrics.trackers:
            service.metrics_registry.register(
                SLOCollector(metrics.trackers, service.clock.monotonic)
            )
    observability = Observability(config=config, slos=slos, metrics=metrics, routes=routes)
    if config is not None:  # off: the board's placeholder fails the gate as "not configured"
        service.gates.register(ObserveGate(service, observability))
    return observability
