"""hardened: an ASGI toolkit whose eight production-readiness gates are built in and verified."""

from hardened.clock import SYSTEM_CLOCK, Clock, SystemClock
from hardened.components import Components, component
from hardened.endpoints import EndpointsConfig
from hardened.errors import (
    BodyTooLarge,
    BulkheadFull,
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    HardenedError,
    IdempotencyError,
    IdempotencyKeyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    LoadShed,
    PoolExhausted,
    RejectedError,
)
from hardened.gates import Gate, GateResult, Status, Tier, Waiver
from hardened.service import Mechanism, Phase, Service
from hardened.stack import MIDDLEWARE_ORDER, Layer, build_stack

__all__ = [
    "MIDDLEWARE_ORDER",
    "SYSTEM_CLOCK",
    "BodyTooLarge",
    "BulkheadFull",
    "CircuitOpen",
    "Clock",
    "Components",
    "ConfigError",
    "DeadlineExceeded",
    "EndpointsConfig",
    "Gate",
    "GateResult",
    "HardenedError",
    "IdempotencyError",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyReused",
    "Layer",
    "LoadShed",
    "Mechanism",
    "Phase",
    "PoolExhausted",
    "RejectedError",
    "Service",
    "Status",
    "SystemClock",
    "Tier",
    "Waiver",
    "build_stack",
    "component",
]
