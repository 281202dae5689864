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
    """A request on the public port that a drill may send (`safe`: it changes nothing)."""

    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    safe: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ConfigError(f"a drill request path starts with '/', not {self.path!r}")

    def to_json(self) -> dict[str, Any]:
        """The manifest's entry."""
        return {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body,
            "safe": self.safe,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillConfig:
    """Drills on a service: off unless a token is set here or in `HARDENED_DRILL_TOKEN`.

    Requests by role: `slow` takes about a second (shutdown drill), `upload` reads its body
    (chunked body drill), `outbound` calls `dependencies[0]` (breaker and deadline drills),
    `critical` must be served under overload, `cpu` burns CPU (the overload drill),
    `database` checks out a connection of `pools[0]` (the pool drill), `idempotent` is an
    unsafe request with an effect that `effects()` counts (the idempotency drill). `postgres`: the
    service needs a PostgreSQL, so `hardened drill MODULE:ATTR` starts a scratch one when
    `DATABASE_URL` is unset.
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
    dependencies: Sequence[Dependency] = ()
    pools: Sequence[PostgresPool] = ()
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
