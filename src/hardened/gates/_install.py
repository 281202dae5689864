"""The install interface: the narrow view of a service that a gate's mechanism receives.

A mechanism never sees `Service`. It adds its layer or edge stage to a slot of the fixed order,
registers its components and its gate, publishes its state, and asks for the facts other gates
publish (the lifecycle gate asks for ``deadline.default_timeout``, it does not look up the
deadline gate). `Service` implements this protocol; tests can implement it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from starlette.types import ASGIApp

    from hardened.clock import Clock
    from hardened.components import Components
    from hardened.gates._gate import Gate
    from hardened.stages import Layer

__all__ = ["FactReader", "Installer", "Mechanism", "StateFields"]

StateFields = Mapping[str, float | int | bool | str]
FactReader = Callable[[], Any]


class Installer(Protocol):
    """What a mechanism may touch on the service it joins."""

    @property
    def service_name(self) -> str:
        """The service's name (labels, log lines)."""
        ...

    @property
    def clock(self) -> Clock:
        """The one clock every mechanism reads."""
        ...

    @property
    def app(self) -> ASGIApp:
        """The application the service serves (its route tree is where marks are read)."""
        ...

    @property
    def components(self) -> Components:
        """The service's components: register by type, started in order, stopped in reverse."""
        ...

    @property
    def metrics_registry(self) -> CollectorRegistry:
        """The service's own Prometheus registry (never the process-wide default)."""
        ...

    def add_layer(self, layer: Layer) -> None:
        """Put a layer (an edge stage or an ASGI middleware) in its slot of the fixed order."""
        ...

    def register_gate(self, gate: Gate) -> None:
        """Answer one of the eight questions with this gate (replaces the placeholder)."""
        ...

    def track_state(
        self, kind: str, name: str, reader: Callable[[], StateFields], *, gate: str | None = None
    ) -> None:
        """Export a mechanism's state: `reader` is called at each scrape and `/gates` check."""
        ...

    def serving(self) -> bool:
        """True while the service is started and taking or finishing traffic (ready, draining)."""
        ...

    def begin_shutdown(self) -> None:
        """Stop being ready: readiness answers 503 from now on (liveness stays 200)."""
        ...

    def publish_fact(self, name: str, reader: FactReader) -> None:
        """Offer a fact other gates may ask for by `name` (read lazily, at check time)."""
        ...

    def fact(self, name: str) -> Any:
        """The current value of a published fact, or None when no mechanism offers it."""
        ...


class Mechanism(Protocol):
    """A gate's mechanism: installs its layer, components, state and gate through `Installer`."""

    def install(self, service: Installer) -> None:
        """Register what this mechanism needs."""
        ...
