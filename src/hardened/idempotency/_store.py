"""What a key store answers: the claim's outcomes, the ticket a winner holds, the protocol.

A claim either wins the key (`Ticket`: run the handler), finds it completed with the same
request (`Replay`), held by a live lease (`InFlight`: 409), or used for another request
(`Mismatch`: 422). Every write after the claim is fenced by the ticket's lease token, so a
request whose lease passed to a retry can change nothing.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Census",
    "ClaimRequest",
    "IdempotencyStore",
    "InFlight",
    "Mismatch",
    "Outcome",
    "Replay",
    "StoredResponse",
    "Ticket",
]

Census = dict[str, int]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response kept for replay: status, the allowlisted headers, the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRequest:
    """Who asks for which key, and what the request was."""

    scope: str
    key: str
    fingerprint: bytes
    method: str
    route: str


class Ticket:
    """A won claim: the row, the lease token that fences every later write, and where a
    previous attempt got to (`recovery_point`, ``"started"`` on a first attempt)."""

    __slots__ = ("attempts", "completed", "id", "recovery_point", "request", "token")

    def __init__(
        self, request: ClaimRequest, *, id: Any, token: Any, recovery_point: str, attempts: int
    ) -> None:
        self.request = request
        self.id = id
        self.token = token
        self.recovery_point = recovery_point
        self.attempts = attempts
        self.completed = False


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was completed by the same request: answer with what was stored."""

    response: StoredResponse


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another request holds the key's live lease; `retry_after` is what is left of it."""

    retry_after: float


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key belongs to a different request (another body, route, method or query)."""


Outcome = Ticket | Replay | InFlight | Mismatch


class IdempotencyStore(Protocol):
    """Where keys are claimed, fenced and completed. `durable` says whether a key survives the
    process and is shared by every replica."""

    kind: str
    durable: bool

    async def start(self) -> None:
        """Prepare the store (the PostgreSQL store creates and migrates its table)."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Any] | None:
        """A connection checked out for a request's block (None: the store has none)."""
        ...

    async def claim(
        self, request: ClaimRequest, *, lease: float, retention: float, connection: Any = None
    ) -> Outcome:
        """Claim `request.key` for `request.scope` atomically (on `connection` when given)."""
        ...

    async def heartbeat(self, ticket: Ticket, *, lease: float) -> bool:
        """Extend the lease; False when it was lost."""
        ...

    async def complete(
        self,
        ticket: Ticket,
        response: StoredResponse,
        *,
        retention: float,
        connection: Any = None,
    ) -> bool:
        """Store the response for replay (fenced); False when the lease was lost. With
        `connection`, the write joins that connection's open transaction."""
        ...

    async def commit(
        self,
        ticket: Ticket,
        response: StoredResponse | None,
        *,
        retention: float,
        connection: Any,
    ) -> bool:
        """Commit `connection`'s open transaction, storing `response` for replay in the same
        round trip (fenced); False, with the transaction rolled back, when the lease was lost."""
        ...

    async def release(self, ticket: Ticket) -> None:
        """Give the key back (fenced): deleted while nothing was recorded, else unleased."""
        ...

    async def reach(self, ticket: Ticket, point: str, *, connection: Any = None) -> bool:
        """Record a recovery point (fenced); False when the lease was lost."""
        ...

    async def reap(self, *, batch: int) -> int:
        """Delete up to `batch` expired keys; how many went."""
        ...

    async def census(self, *, lease: float) -> Census:
        """In-progress keys by age (stuck ones show as older than their lease)."""
        ...
