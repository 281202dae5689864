"""Breaker and bulkhead: per-dependency circuit breaker and concurrency bound, and the gate
that asks whether every external call has a timeout and a breaker.

`hardened.outbound.Dependency` composes them with retries; `Breakers` (installed by `Service`)
registers the gate, so a service that calls nothing outside passes it.
"""

from hardened.breaker._breaker import BreakerState, CircuitBreaker, Transition
from hardened.breaker._bulkhead import Bulkhead
from hardened.breaker._config import BreakerConfig, BulkheadConfig
from hardened.breaker._gate import BreakerBoard, BreakerGate, Guarded
from hardened.breaker._install import BOARD_FACT, DEPENDENCIES_FACT, Breakers, join
from hardened.breaker._state import breaker_state, bulkhead_state

__all__ = [
    "BOARD_FACT",
    "DEPENDENCIES_FACT",
    "BreakerBoard",
    "BreakerConfig",
    "BreakerGate",
    "BreakerState",
    "Breakers",
    "Bulkhead",
    "BulkheadConfig",
    "CircuitBreaker",
    "Guarded",
    "Transition",
    "breaker_state",
    "bulkhead_state",
    "join",
]
