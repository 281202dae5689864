"""The shed mechanism: the shedder in the `shed` slot, its rejection counter and its state."""

from __future__ import annotations

from prometheus_client import Counter

from hardened.gates import Installer
from hardened.heartbeat import Heartbeat
from hardened.shed._config import SHED_DEFAULTS, ShedConfig
from hardened.shed._early import EarlyRefusal
from hardened.shed._limited import LimitedShedder
from hardened.shed._stage import Shedder

__all__ = ["Shed"]


class Shed:
    """Adaptive load shedding at the edge. Its evidence is part of the observe gate."""

    def __init__(self, config: ShedConfig = SHED_DEFAULTS) -> None:
        self.config = config
        self.shedder: Shedder | None = None

    def install(self, service: Installer) -> None:
        """Put the shedder in the `shed` slot and publish its state (kind "shed").

        Its queue delay comes from the loop's one heartbeat (the `loop.heartbeat` fact) when
        the loop mechanism is installed first, as `Service` does; else from its own."""
        rejected = Counter(
            "http_server_shed_rejected",
            "Requests refused by the load shedder, by reason and priority.",
            ["reason", "priority"],
            registry=service.metrics_registry,
        )
        kind = LimitedShedder if self.config.adaptive_limit else Shedder
        shared = service.fact("loop.heartbeat")  # the loop monitor's, when the service has one
        heartbeat = shared if isinstance(shared, Heartbeat) else None
        self.shedder = kind(self.config, rejected, heartbeat)
        service.add_layer(self.shedder)
        service.track_state("shed", "edge", self.shedder.state, gate="observe")
        service.publish_fact("shed.early_refusal", lambda: self.early_refusal(service))

    def early_refusal(self, service: Installer) -> EarlyRefusal | None:
        """The decision a server may take at headers-complete (the `shed.early_refusal` fact):
        what the service answers before its stack passes (`endpoints.before_stack`: the
        probes), refusals are counted in RED through the `observe.answered` fact."""
        if self.shedder is None:
            return None
        passes = service.fact("endpoints.before_stack")
        return EarlyRefusal(
            self.shedder,
            passes=tuple(passes) if passes is not None else (),
            record=service.fact("observe.answered"),
            clock=service.clock,
        )
