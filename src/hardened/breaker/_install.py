"""Breakers: the breaker gate's mechanism, and the board every Dependency joins."""

from __future__ import annotations

from typing import Any

from hardened.breaker._breaker import BreakerState
from hardened.breaker._gate import BreakerBoard, BreakerGate, Guarded
from hardened.errors import ConfigError
from hardened.gates import Installer

__all__ = ["BOARD_FACT", "DEPENDENCIES_FACT", "Breakers", "join"]

BOARD_FACT = "breaker.board"
# For the idempotency gate: per dependency, its retry policy and whether unsafe calls retry.
DEPENDENCIES_FACT = "breaker.dependencies"


class Breakers:
    """Registers the breaker gate (passing while nothing calls outside) and its board."""

    def __init__(self) -> None:
        self.board = BreakerBoard()

    def install(self, service: Installer) -> None:
        """Register the gate and publish the board and the dependencies' retry facts."""
        service.register_gate(BreakerGate(self.board, service))
        service.publish_fact(BOARD_FACT, lambda: self.board)
        service.publish_fact(DEPENDENCIES_FACT, self._facts)
        service.track_state("outbound", "dependencies", self._summary, gate="breaker")

    def _summary(self) -> dict[str, int]:
        states = [d.breaker.state for d in self.board]
        closed = (BreakerState.CLOSED, BreakerState.DISABLED)
        return {
            "registered": len(states),
            "breakers_not_closed": sum(s not in closed for s in states),
        }

    def _facts(self) -> list[dict[str, Any]]:
        return [
            {"name": d.name, **d.describe()["retry"], "unsafe_retry_with_key": _with_key(d)}
            for d in self.board
        ]


def _with_key(dependency: Guarded) -> bool:
    return bool(dependency.describe()["retry"].get("unsafe_retry") == "with_key")


def join(service: Installer, dependency: Guarded) -> BreakerBoard:
    """Add `dependency` to the service's board (installing the gate on first use)."""
    board = service.fact(BOARD_FACT)
    if not isinstance(board, BreakerBoard):
        breakers = Breakers()
        breakers.install(service)
        board = breakers.board
    if dependency.name in board.dependencies:
        raise ConfigError(f"a dependency named {dependency.name!r} is already registered")
    board.dependencies[dependency.name] = dependency
    return board
