"""MemoryIdempotencyStore: one process's keys in a dict (tests and small tools, not replicas).

The same semantics as the PostgreSQL store, on the service's clock; keys vanish with the
process and are not shared between replicas, so the gate fails it at tier critical.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.idempotency._store import (
    Census,
    ClaimRequest,
    InFlight,
    Mismatch,
    Outcome,
    Replay,
    StoredResponse,
    Ticket,
)

__all__ = ["MemoryIdempotencyStore"]


@dataclass(slots=True)
class _Row:
    id: int
    fingerprint: bytes
    token: int | None
    lease_expires: float
    expires: float
    created: float
    recovery_point: str = "started"
    attempts: int = 1
    response: StoredResponse | None = None


class MemoryIdempotencyStore:
    """Keys in process memory, on `clock` (single process only)."""

    kind = "memory"
    durable = False

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._rows: dict[tuple[str, str], _Row] = {}
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)

    def __len__(self) -> int:
        return len(self._rows)

    async def start(self) -> None:
        """Nothing to prepare."""

    def _held(self, ticket: Ticket) -> _Row | None:
        row = self._rows.get((ticket.request.scope, ticket.request.key))
        if row is None or row.id != ticket.id or row.token != ticket.token:
            return None
        return row

    def connection(self) -> None:
        """No connections: a handler in transaction mode gets None."""

    async def claim(
        self, request: ClaimRequest, *, lease: float, retention: float, connection: Any = None
    ) -> Outcome:
        """Claim the key, or say why not."""
        del connection
        now = self.clock.monotonic()
        slot = (request.scope, request.key)
        row = self._rows.get(slot)
        if row is not None and row.expires <= now:
            row = None
        if row is None:
            row = _Row(next(self._ids), request.fingerprint, None, 0.0, now + retention, now)
            self._rows[slot] = row
        elif row.fingerprint != request.fingerprint:
            return Mismatch()
        elif row.response is not None:
            return Replay(row.response)
        elif row.lease_expires > now:
            return InFlight(row.lease_expires - now)
        else:
            row.attempts += 1
        row.token = next(self._tokens)
        row.lease_expires = now + lease
        return Ticket(
            request,
            id=row.id,
            token=row.token,
            recovery_point=row.recovery_point,
            attempts=row.attempts,
        )

    async def heartbeat(self, ticket: Ticket, *, lease: float) -> bool:
        """Extend the lease while it is still ours."""
        row = self._held(ticket)
        if row is None:
            return False
        row.lease_expires = self.clock.monotonic() + lease
        return True

    async def complete(
        self,
        ticket: Ticket,
        response: StoredResponse,
        *,
        retention: float,
        connection: Any = None,
    ) -> bool:
        """Keep the response (there is no transaction to join: `connection` is ignored)."""
        del connection
        row = self._held(ticket)
        if row is None:
            return False
        row.response, row.token = response, None
        row.expires = self.clock.monotonic() + retention
        return True

    async def commit(
        self,
        ticket: Ticket,
        response: StoredResponse | None,
        *,
        retention: float,
        connection: Any,
    ) -> bool:
        """A memory store hands out no connections, so it has no transaction to commit."""
        del ticket, response, retention, connection
        raise LookupError("a memory store has no connections, hence no transaction")

    async def release(self, ticket: Ticket) -> None:
        """Delete the key, or unlease it once a recovery point was recorded."""
        row = self._held(ticket)
        if row is None:
            return
        if row.recovery_point == "started":
            del self._rows[(ticket.request.scope, ticket.request.key)]
        else:
            row.token, row.lease_expires = None, 0.0

    async def reach(self, ticket: Ticket, point: str, *, connection: Any = None) -> bool:
        """Record a recovery point."""
        del connection
        row = self._held(ticket)
        if row is None:
            return False
        row.recovery_point = ticket.recovery_point = point
        return True

    async def reap(self, *, batch: int) -> int:
        """Drop up to `batch` expired keys."""
        now = self.clock.monotonic()
        expired = [slot for slot, row in self._rows.items() if row.expires <= now][:batch]
        for slot in expired:
            del self._rows[slot]
        return len(expired)

    async def census(self, *, lease: float) -> Census:
        """In-progress keys by age."""
        now = self.clock.monotonic()
        ages = [now - row.created for row in self._rows.values() if row.response is None]
        return _census(ages, lease)


def _census(ages: list[float], lease: float) -> Census:
    return {
        "in_progress_keys": len(ages),
        "in_progress_older_than_lease": sum(age > lease for age in ages),
        "in_progress_older_than_10_leases": sum(age > 10 * lease for age in ages),
    }
