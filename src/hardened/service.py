"""Service: the composition root — components, lifespan, the fixed middleware order, the gates.

One `Service` is one ASGI application. It hosts routes written on it, or wraps a Starlette or
FastAPI application a team already has; either way every request passes the same stack and the
same probes, and `/gates` reports the same eight gates.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from hardened._fields import check_arguments
from hardened._lifespan import InnerLifespan
from hardened.breaker import Breakers
from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.components import Components
from hardened.deadline import Deadline, DeadlineConfig
from hardened.endpoints import EndpointsConfig, public_probes
from hardened.errors import ConfigError, HardenedError, StartupFailed
from hardened.faults import client_gone_handler
from hardened.gates import (
    FactReader,
    Gate,
    GateBoard,
    Mechanism,
    StateFields,
    Tier,
    Waiver,
    build_report,
)
from hardened.idempotency import Idempotency
from hardened.lifecycle import Lifecycle, LifecycleConfig
from hardened.loop import Loop, LoopConfig
from hardened.observe import OBSERVE_DEFAULTS, SLO, Observability, Observe, ObserveConfig
from hardened.pool import Pools
from hardened.problems import malformed_json_handler, problem_response
from hardened.shed import SHED_DEFAULTS, Shed, ShedConfig, Shedder
from hardened.shutdown import Shutdown, ShutdownConfig
from hardened.stack import build_stack
from hardened.stages import MIDDLEWARE_ORDER, Layer
from hardened.state import MechanismStates

__all__ = ["Phase", "Service"]

logger = logging.getLogger("hardened.service")


class Phase(enum.StrEnum):
    """Where the service is in its life; readiness follows from it."""

    CREATED = "created"
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"


async def _problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HardenedError)
    status, headers, body = problem_response(exc)
    return Response(body, status_code=status, headers={k.decode(): v.decode() for k, v in headers})


class Service:
    """The composition root of one backend service."""

    def __init__(
        self,
        name: str,
        *,
        tier: Tier | str = Tier.STANDARD,
        routes: Sequence[BaseRoute] | None = None,
        app: ASGIApp | None = None,
        endpoints: EndpointsConfig | None = None,
        waivers: Mapping[str, Waiver] | None = None,
        mechanisms: Sequence[Mechanism] = (),
        clock: Clock = SYSTEM_CLOCK,
        metrics_registry: CollectorRegistry | None = None,
        loop: LoopConfig | None = LoopConfig(),  # noqa: B008 - frozen
        shutdown: ShutdownConfig | None = ShutdownConfig(),  # noqa: B008 - frozen, immutable
        observe: ObserveConfig | None = OBSERVE_DEFAULTS,
        slos: Sequence[SLO] = (),
        shed: ShedConfig | None = SHED_DEFAULTS,
        lifecycle: LifecycleConfig | None = LifecycleConfig(),  # noqa: B008 - frozen
        deadline: DeadlineConfig | None = DeadlineConfig(),  # noqa: B008 - frozen
        breaker: bool = True,
        pools: bool = True,
        idempotency: bool = True,
    ) -> None:
        check_arguments("Service", Service.__init__, locals())  # a wrong type fails here
        if not name.strip():
            raise ConfigError("a service needs a name")
        if routes is not None and app is not None:
            raise ConfigError("pass routes= or app=, not both")
        try:
            self.tier = Tier(tier)
        except ValueError:
            raise ConfigError(
                f"tier must be one of {[t.value for t in Tier]}, not {tier!r}"
            ) from None
        self.name = name
        self.clock = clock
        self.endpoints = endpoints or EndpointsConfig()
        self._public_probes = public_probes(self.endpoints)  # path → answer, before the stack
        self.metrics_registry = metrics_registry or CollectorRegistry(auto_describe=True)
        # Every mechanism publishes its state here (see hardened.state).
        self.mechanisms = MechanismStates(self.metrics_registry)
        self.components = Components(clock=clock)
        self.gates = GateBoard(waivers=waivers, clock=clock)
        self.phase = Phase.CREATED
        self._layers: dict[str, Layer] = {}
        self._facts: dict[str, FactReader] = {}
        self._stack: ASGIApp | None = None
        self._inner_lifespan: InnerLifespan | None = None
        self.app = app if app is not None else Starlette(routes=list(routes or ()))
        if isinstance(self.app, Starlette):
            self.app.add_exception_handler(HardenedError, _problem_handler)
            self.app.add_exception_handler(json.JSONDecodeError, malformed_json_handler)
            self.app.add_exception_handler(ClientDisconnect, client_gone_handler)
        self.publish_fact("state.mechanisms", lambda: self.mechanisms)
        self.publish_fact("gates.configured", self.gates.configured)
        self.publish_fact(
            "endpoints.probes", lambda: (self.endpoints.readyz_path, self.endpoints.livez_path)
        )
        # Answered by the public port before the stack (probes; /gates and /metrics when the
        # admin endpoints are public): a server's early shed decision lets them pass too.
        self.publish_fact("endpoints.before_stack", lambda: tuple(self._public_probes))
        observe_mechanism = Observe(observe, tuple(slos))
        shed_mechanism = Shed(shed) if shed is not None else None
        defaults: list[Mechanism | None] = [
            Loop(loop) if loop is not None else None,
            Shutdown(shutdown) if shutdown is not None else None,
            observe_mechanism,
            shed_mechanism,
            Lifecycle(lifecycle) if lifecycle is not None else None,
            Deadline(deadline) if deadline is not None else None,
            Breakers() if breaker else None,  # passes while nothing calls outside
            Pools() if pools else None,  # answers for every service; PostgresPools join it
            Idempotency() if idempotency else None,  # the gate; a store adds the layer
        ]
        for mechanism in [*defaults, *mechanisms]:
            if mechanism is not None:
                self.use(mechanism)
        self.observability: Observability = observe_mechanism.observability
        self.shedder: Shedder | None = shed_mechanism.shedder if shed_mechanism else None

    # -- wiring ------------------------------------------------------------------------------

    def use(self, mechanism: Mechanism) -> Service:
        """Install a gate mechanism (its layer, components and gate)."""
        mechanism.install(self)
        return self

    def add_layer(self, layer: Layer) -> None:
        """Put `layer` in its slot of the fixed order; each slot holds one layer."""
        if self._stack is not None:
            raise ConfigError("layers must be added before the service serves its first request")
        if layer.slot not in MIDDLEWARE_ORDER:
            raise ConfigError(f"unknown slot {layer.slot!r}; slots are {MIDDLEWARE_ORDER}")
        if layer.slot in self._layers:
            raise ConfigError(f"the {layer.slot!r} slot is already filled")
        self._layers[layer.slot] = layer

    def layers(self) -> dict[str, str | None]:
        """Slot → layer type name (None for an empty slot), in the fixed order."""
        return {
            slot: type(self._layers[slot]).__qualname__ if slot in self._layers else None
            for slot in MIDDLEWARE_ORDER
        }

    # -- the install interface (hardened.gates.Installer) -----------------------------------

    @property
    def service_name(self) -> str:
        """The service's name."""
        return self.name

    def register_gate(self, gate: Gate) -> None:
        """Answer one of the eight questions with `gate`."""
        self.gates.register(gate)

    def track_state(
        self, kind: str, name: str, reader: Callable[[], StateFields], *, gate: str | None = None
    ) -> None:
        """Export a mechanism's state (see `hardened.state`)."""
        self.mechanisms.track(kind, name, reader, gate=gate)

    def serving(self) -> bool:
        """True while started and taking or finishing traffic."""
        return self.phase in (Phase.READY, Phase.DRAINING)

    def publish_fact(self, name: str, reader: FactReader) -> None:
        """Offer a fact other mechanisms may ask for by name."""
        if name in self._facts:
            raise ConfigError(f"the fact {name!r} is already published")
        self._facts[name] = reader

    def fact(self, name: str) -> Any:
        """The current value of a published fact, or None."""
        reader = self._facts.get(name)
        return reader() if reader is not None else None

    # -- state and reports -------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        """Whether to take traffic now, and the phase that decides it."""
        return self.phase is Phase.READY, self.phase.value

    def begin_shutdown(self) -> None:
        """Stop being ready (the first step of every graceful shutdown)."""
        if self.phase in (Phase.READY, Phase.STARTING, Phase.CREATED):
            self.phase = Phase.DRAINING

    def report(self, tier: Tier | str | None = None) -> dict[str, Any]:
        """The gate report document, evaluated at `tier` (default: the service's own)."""
        effective = Tier(tier) if tier is not None else self.tier
        results = self.gates.results(effective)
        proof = self.fact("gates.proof")  # drill results per gate, when a drill document is given
        if proof is not None:
            results = proof(results, effective)
        return build_report(self.name, effective, results)

    # -- ASGI --------------------------------------------------------------------------------

    def _build_stack(self) -> ASGIApp:
        if self._stack is None:
            self._stack = build_stack(self.app, self._layers)
        return self._stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        scope["hardened.service"] = self
        if kind == "http":
            path, root = scope["path"], scope.get("root_path")
            if root and path.startswith(root):  # served under --root-path: probes still match
                path = path[len(root) :]
            probe = self._public_probes.get(path)
            if probe is not None:
                await probe(scope, send, self)
                return
        await (self._stack or self._build_stack())(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        self.phase = Phase.STARTING
        state: dict[str, Any] = scope.get("state", {})
        try:
            self._build_stack()
            await self.components.start()
            self._inner_lifespan = InnerLifespan(self.app, state)
            await self._inner_lifespan.startup()
        except Exception as exc:
            # A component that timed out or was stopped by a signal is named in one line.
            quiet = isinstance(exc, StartupFailed) and exc.__cause__ is None
            logger.error("start-up failed: %s", exc, exc_info=None if quiet else exc)  # noqa: TRY400
            await self.components.stop()
            self.phase = Phase.STOPPED
            await send(
                {"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            return
        self.phase = Phase.READY
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        self.begin_shutdown()
        failure = ""
        try:
            await self._inner_lifespan.shutdown()
        except Exception as exc:
            logger.exception("the application's shutdown failed")
            failure = f"{type(exc).__name__}: {exc}"
        await self.components.stop()
        self.phase = Phase.STOPPED
        if failure:
            await send({"type": "lifespan.shutdown.failed", "message": failure})
        else:
            await send({"type": "lifespan.shutdown.complete"})
