"""Every drill, by gate in the report's order. A new gate's drills are one module, listed here."""

from __future__ import annotations

from hardened.drill import _breaker, _deadline, _lifecycle, _loop, _observe, _shutdown
from hardened.drill._model import Drill
from hardened.gates import GATE_NAMES

__all__ = ["CATALOG", "select"]

CATALOG: tuple[Drill, ...] = tuple(
    sorted(
        (
            *_lifecycle.DRILLS,
            *_deadline.DRILLS,
            *_loop.DRILLS,
            *_breaker.DRILLS,
            *_shutdown.DRILLS,
            *_observe.DRILLS,
        ),
        key=lambda drill: GATE_NAMES.index(drill.gate),
    )
)


def select(gates: list[str] | None, names: list[str] | None = None) -> list[Drill]:
    """The drills of `gates` (all when None), or only those named."""
    return [
        drill
        for drill in CATALOG
        if (not gates or drill.gate in gates) and (not names or drill.name in names)
    ]
