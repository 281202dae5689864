"""What a service declares for drills: its token, its drill requests and hooks, its proof."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardened.errors import ConfigError

if TYPE_CHECKING:
    from hardened.outbound import Dependency
    from hardened.pool import PostgresPool

__all__ = ["TOKEN_ENV", "DrillConfig", "DrillRequest"]

TOKEN_ENV = "HARDENED_DRILL_TOKEN"  # noqa: S105 - the variable's name, not a secret
ROLES = ("slow", "upload", "outbound", "critical", "cpu", "database", "idempotent")


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillRequest:
    """A request on the public port that a drill may send (`safe`: it changes nothing).

    `key_header`: a header the drill fills with a new value on every send (an
    `Idempotency-Key`: each send is a new request, not a retry of the last one).
    """

    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    safe: bool = False
    key_header: str | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ConfigError(f"a drill request path starts with '/', not {self.path!r}")
        if self.key_header is not None and not self.key_header.strip():
            raise ConfigError("key_header names a header")

    def to_json(self) -> dict[str, Any]:
        """The manifest's entry."""
        return {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body,
            "safe": self.safe,
            "key_header": self.key_header,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillConfig:
    """Drills on a service: off unless a token is set here or in `HARDENED_DRILL_TOKEN`.

    Requests by role: `outbound` calls `dependencies[0]` (breaker and deadline drills);
    `slow` takes about a second (shutdown and tiny-budget drills; without it, the drills send
    `outbound` with that dependency made slow through its fault hook); `upload` reads its body
    (body drills); `critical` must be served under overload; `cpu` is a standard or sheddable
    request the overload drill offers at 3x what the process serves (made to hold the loop
    for 15 ms of CPU each while it runs, when it costs less on its own); `database` checks out
    a connection of `pools[0]` (the pool drill); `idempotent` is an unsafe request with an
    effect that `effects()` counts (the idempotency drill). `dependencies` and `pools` take the
    objects or their names (found on the service once it serves). `postgres`: the service needs a
    PostgreSQL, so `hardened drill MODULE:ATTR` starts a scratch one when `DATABASE_URL` is
    unset.
    """

    token: str | None = None
    slow: DrillRequest | None = None
    upload: DrillRequest | None = None
    outbound: DrillRequest | None = None
    critical: DrillRequest | None = None
    cpu: DrillRequest | None = None
    database: DrillRequest | None = None
    idempotent: DrillRequest | None = None
    effects: Callable[[], Awaitable[int]] | None = None
    block_loop: Callable[[float], None] | None = None
    dependencies: Sequence[Dependency | str] = ()
    pools: Sequence[PostgresPool | str] = ()
    proof: str | os.PathLike[str] | None = None
    prove_within_days: float | None = None
    postgres: bool = False

    def __post_init__(self) -> None:
        if self.token is not None and len(self.token) < 16:
            raise ConfigError("a drill token needs at least 16 characters")
        if self.prove_within_days is not None and self.prove_within_days <= 0:
            raise ConfigError("prove_within_days must be positive")
        if self.prove_within_days is not None and self.proof is None:
            raise ConfigError("prove_within_days needs proof= (the drill document to read)")

    def current_token(self) -> str | None:
        """The token in force (read when a hook is called, never at import)."""
        return self.token or os.environ.get(TOKEN_ENV) or None

    def requests(self) -> dict[str, DrillRequest]:
        """The declared requests by role."""
        found = {role: getattr(self, role) for role in ROLES}
        return {role: spec for role, spec in found.items() if spec is not None}

    def proof_path(self) -> Path | None:
        """Where the proof document is read from."""
        return Path(self.proof) if self.proof is not None else None
