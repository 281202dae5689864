"""BreakerGate: does every external call have a timeout and a breaker; is the blast radius
isolated (gate 6 of GATES.md)?

Evidence lists each registered dependency with its attempt timeout, breaker, bulkhead and
retry policy, and the outbound clients in module globals that bypass them. An open breaker
makes the gate `warn` (the service is degraded), never `fail`, and never touches readiness.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, Protocol

from hardened.breaker._breaker import BreakerState, CircuitBreaker
from hardened.gates import GATE_QUESTIONS, GateResult, Installer, Status, Tier
from hardened.wiring import outside_clients

__all__ = ["BreakerBoard", "BreakerGate", "Guarded"]

# Pools are the pool gate's business; these are the clients that call another service.
_POOL_TYPES = frozenset({"asyncpg.Pool", "asyncpg.Connection", "sqlalchemy.AsyncEngine"})
_POOL_TYPES |= {"sqlalchemy.Engine"}
_SCAN_CAVEAT = (
    "clients are found in module globals of the service's, application's and endpoints' "
    "modules; one built inside a function or held by a registered component is not inspected"
)
_PROCESS_CAVEAT = "breakers and bulkheads are per process: each replica learns on its own"
# The module scan walks every loaded module: reports for several tiers in a row share one.
SCAN_REUSE_SECONDS = 1.0


class Guarded(Protocol):
    """A registered dependency as the gate sees it (`hardened.outbound.Dependency` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def breaker(self) -> CircuitBreaker: ...

    def describe(self) -> dict[str, Any]:
        """Its timeout, breaker, bulkhead and retry policy in force, and their state."""
        ...


class BreakerBoard:
    """Every dependency registered on one service, by name."""

    def __init__(self) -> None:
        self.dependencies: dict[str, Guarded] = {}

    def __iter__(self) -> Iterator[Guarded]:
        return iter(list(self.dependencies.values()))


def _guards(client: object) -> bool:
    """True when an httpx client sends through a Dependency's transport (its own or mounted)."""
    transports = [getattr(client, "_transport", None)]
    transports += list((getattr(client, "_mounts", None) or {}).values())
    return any(getattr(t, "hardened_dependency", None) is not None for t in transports)


def bypassing_clients(service: Installer) -> list[dict[str, str]]:
    """Outbound clients in scanned module globals that do not go through a Dependency."""
    found = []
    for client in outside_clients(service, ()):
        if client["type"] in _POOL_TYPES:
            continue
        module, _, attribute = client["where"].rpartition(".")
        value = getattr(sys.modules.get(module), attribute, None)
        if not _guards(value):
            found.append(client)
    return found


class BreakerGate:
    """Reads the board and the module scan; the tier decides how hard a bypass fails."""

    name = "breaker"

    def __init__(self, board: BreakerBoard, service: Installer) -> None:
        self._board = board
        self._service = service
        self._scan: tuple[float, list[dict[str, str]]] | None = None

    def _bypassing(self) -> list[dict[str, str]]:
        now = self._service.clock.monotonic()
        if self._scan is None or now - self._scan[0] >= SCAN_REUSE_SECONDS:
            self._scan = (now, bypassing_clients(self._service))
        return self._scan[1]

    def check(self, tier: Tier) -> GateResult:
        dependencies = [dependency.describe() for dependency in self._board]
        bypass = self._bypassing()
        evidence: dict[str, Any] = {
            "dependencies": dependencies,
            "bypassing_clients": bypass,
            "looked_for": "Dependency objects on the service; httpx, aiohttp, requests, urllib3 "
            "and redis clients in module globals",
            "readiness": "an open breaker degrades this gate and never fails /readyz",
        }
        caveats = [_SCAN_CAVEAT, _PROCESS_CAVEAT]
        status = Status.PASS
        degraded = [
            f"{d.name} breaker is {d.breaker.state.value}"
            for d in self._board
            if d.breaker.state not in (BreakerState.CLOSED, BreakerState.DISABLED)
        ]
        disabled = [d.name for d in self._board if d.breaker.state is BreakerState.DISABLED]
        if degraded:
            caveats.insert(0, f"degraded: {'; '.join(degraded)}")
            status = Status.WARN
        if disabled:
            caveats.insert(0, f"breaker disabled by an operator: {disabled}")
            status = Status.WARN
        if bypass:
            where = [client["where"] for client in bypass]
            caveats.insert(0, f"outbound clients that bypass a Dependency: {where}")
            status = Status.FAIL if tier.at_least(Tier.STANDARD) else Status.WARN
        if not dependencies and not bypass:
            caveats.insert(0, "no outbound dependency registered and none found by the scan")
        return GateResult(
            name=self.name,
            question=GATE_QUESTIONS[self.name],
            status=status,
            evidence=evidence,
            caveats=tuple(caveats),
        )
