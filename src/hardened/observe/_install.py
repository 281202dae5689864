"""The observe mechanism: RED stage, SLO trackers, the gate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Scope

from hardened.errors import ConfigError
from hardened.gates import Installer
from hardened.observe._config import OBSERVE_DEFAULTS, SLO, ObserveConfig
from hardened.observe._red import RedMetrics
from hardened.observe._slo import SLOCollector
from hardened.observe._stage import ObserveStage
from hardened.routes import RouteTemplates

__all__ = ["Observability", "Observe"]


@dataclass(slots=True)
class Observability:
    """What the observe mechanism installed on a service (None parts are off)."""

    config: ObserveConfig | None
    slos: tuple[SLO, ...]
    metrics: RedMetrics | None
    routes: RouteTemplates | None


class Observe:
    """RED metrics (unless `config` is None), SLO trackers and the observe gate.

    Publishes ``observe.observability`` (what `hardened rules` renders rules from) and
    ``observe.answered`` (how a server counts a request it answered before the stack ran).
    """

    def __init__(
        self, config: ObserveConfig | None = OBSERVE_DEFAULTS, slos: tuple[SLO, ...] = ()
    ) -> None:
        names = [slo.name for slo in slos]
        if len(set(names)) != len(names):
            raise ConfigError(f"SLO names must be unique, got {names}")
        self.config = config
        self.slos = slos
        self.observability = Observability(config=config, slos=slos, metrics=None, routes=None)
        self.stage: ObserveStage | None = None

    def install(self, service: Installer) -> None:
        """Fill the observe slot, register the SLO collector and the gate."""
        from hardened.observe._gate import ObserveGate

        config, observability = self.config, self.observability
        if config is not None:
            metrics = RedMetrics(service.metrics_registry, config, self.slos)
            routes = RouteTemplates(service.app)
            observability.metrics, observability.routes = metrics, routes
            self.stage = ObserveStage(metrics, routes, service.clock)
            service.add_layer(self.stage)
            if metrics.trackers:
                service.metrics_registry.register(
                    SLOCollector(metrics.trackers, service.clock.monotonic)
                )
            # Off: the board's placeholder fails the gate as "not configured".
            service.register_gate(ObserveGate(service, observability))
        service.publish_fact("observe.observability", lambda: observability)
        # A request the server answered before the stack ran (an early shed refusal).
        service.publish_fact("observe.answered", self._answered)

    def _answered(self) -> Callable[[Scope, int, float], None] | None:
        return self.stage.answered if self.stage is not None else None
