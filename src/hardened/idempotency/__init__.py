"""idempotency: the Idempotency-Key layer, its PostgreSQL and memory stores, and the gate."""

from hardened.idempotency._config import IdempotencyConfig, idempotent, not_idempotent
from hardened.idempotency._context import (
    CompletingTransaction,
    IdempotencyContext,
    idempotency_context,
)
from hardened.idempotency._fingerprint import derive_key
from hardened.idempotency._gate import IdempotencyGate
from hardened.idempotency._install import Idempotency
from hardened.idempotency._key import (
    IdempotencyLeaseLost,
    IdempotencyPrincipalMissing,
    IdempotencyStoreUnavailable,
)
from hardened.idempotency._store import (
    ClaimRequest,
    IdempotencyStore,
    InFlight,
    Mismatch,
    Replay,
    StoredResponse,
    Ticket,
)
from hardened.idempotency._store_memory import MemoryIdempotencyStore
from hardened.idempotency._store_postgres import ConnectionSource, PostgresIdempotencyStore

__all__ = [
    "ClaimRequest",
    "CompletingTransaction",
    "ConnectionSource",
    "Idempotency",
    "IdempotencyConfig",
    "IdempotencyContext",
    "IdempotencyGate",
    "IdempotencyLeaseLost",
    "IdempotencyPrincipalMissing",
    "IdempotencyStore",
    "IdempotencyStoreUnavailable",
    "InFlight",
    "MemoryIdempotencyStore",
    "Mismatch",
    "PostgresIdempotencyStore",
    "Replay",
    "StoredResponse",
    "Ticket",
    "derive_key",
    "idempotency_context",
    "idempotent",
    "not_idempotent",
]
