"""Every drill, by gate in the report's order. A new gate's drills are one module, listed here."""

from __future__ import annotations

from hardened.drill import (
    _breaker,
    _deadline,
    _idempotency,
    _lifecycle,
    _loop,
    _observe,
    _pool,
    _shutdown,
)
from hardened.drill._model import Drill
from hardened.gates import GATE_NAMES

__all__ = ["CATALOG", "select"]

CATALOG: tuple[Drill, ...] = tuple(
    sorted(
        (
            *_lifecycle.DRILLS,
            *_deadline.DRILLS,
            *_loop.DRILLS,
            *_pool.DRILLS,
            *_idempotency.DRILLS,
            *_breaker.DRILLS,
            *_shutdown.DRILLS,
            *_observe.DRILLS,
        ),
        key=lambda drill: GATE_NAMES.index(drill.gate),
    )
)


def select(only: list[str] | None) -> list[Drill]:
    """The drills of the gates or the drills named in `only` (all of them when None)."""
    return [drill for drill in CATALOG if not only or {drill.gate, drill.name} & set(only)]
