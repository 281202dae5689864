"""hardened: an ASGI toolkit whose eight production-readiness gates are built in and verified."""

from hardened.breaker import BreakerConfig, BulkheadConfig
from hardened.clock import SYSTEM_CLOCK, Clock, SystemClock
from hardened.components import Components, component
from hardened.deadline import DeadlineConfig, deadline_scope, remaining, route_timeout
from hardened.endpoints import EndpointsConfig
from hardened.errors import (
    BodyTooLarge,
    BulkheadFull,
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    DependencyTimeout,
    HardenedError,
    LoadShed,
    PoolExhausted,
    RejectedError,
    ShutdownInterrupted,
)
from hardened.gates import Gate, GateResult, Installer, Mechanism, Status, Tier, Waiver
from hardened.idempotency import (
    Idempotency,
    IdempotencyConfig,
    MemoryIdempotencyStore,
    PostgresIdempotencyStore,
    idempotency_context,
    idempotent,
    not_idempotent,
)
from hardened.lifecycle import LifecycleConfig, MiB, body_limit
from hardened.loop import LoopConfig, offload
from hardened.observe import SLO, ObserveConfig
from hardened.outbound import Dependency, DependencyConfig
from hardened.pool import PoolConfig, Pools, PostgresPool
from hardened.retry import RetryConfig
from hardened.service import Phase, Service
from hardened.shed import Priority, ShedConfig
from hardened.shutdown import ShutdownConfig, ShutdownManager
from hardened.stack import build_stack
from hardened.stages import MIDDLEWARE_ORDER, Layer, Stage

__all__ = [
    "MIDDLEWARE_ORDER",
    "SLO",
    "SYSTEM_CLOCK",
    "BodyTooLarge",
    "BreakerConfig",
    "BulkheadConfig",
    "BulkheadFull",
    "CircuitOpen",
    "Clock",
    "Components",
    "ConfigError",
    "DeadlineConfig",
    "DeadlineExceeded",
    "Dependency",
    "DependencyConfig",
    "DependencyTimeout",
    "EndpointsConfig",
    "Gate",
    "GateResult",
    "HardenedError",
    "Idempotency",
    "IdempotencyConfig",
    "Installer",
    "Layer",
    "LifecycleConfig",
    "LoadShed",
    "LoopConfig",
    "Mechanism",
    "MemoryIdempotencyStore",
    "MiB",
    "ObserveConfig",
    "Phase",
    "PoolConfig",
    "PoolExhausted",
    "Pools",
    "PostgresIdempotencyStore",
    "PostgresPool",
    "Priority",
    "RejectedError",
    "RetryConfig",
    "Service",
    "ShedConfig",
    "ShutdownConfig",
    "ShutdownInterrupted",
    "ShutdownManager",
    "Stage",
    "Status",
    "SystemClock",
    "Tier",
    "Waiver",
    "body_limit",
    "build_stack",
    "component",
    "deadline_scope",
    "idempotency_context",
    "idempotent",
    "not_idempotent",
    "offload",
    "remaining",
    "route_timeout",
]
