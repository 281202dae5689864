"""The idempotency layer's configuration and the route marks that opt a route in or out."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hardened._fields import check_fields
from hardened.errors import ConfigError
from hardened.routes import mark_endpoint

__all__ = [
    "IDEMPOTENCY_ATTRIBUTE",
    "REPLAYED_HEADERS",
    "Exempt",
    "IdempotencyConfig",
    "Protected",
    "idempotent",
    "not_idempotent",
]

IDEMPOTENCY_ATTRIBUTE = "__hardened_idempotency__"
REPLAYED_HEADERS = frozenset({"content-type", "location", "etag"})
_NEVER_REPLAYED = frozenset({"set-cookie", "authorization", "www-authenticate"})

F = TypeVar("F", bound=Callable[..., Any])


def _seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be positive finite seconds, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyConfig:
    """How keyed requests on opted-in routes are claimed, stored and replayed.

    - `lease`: how long a claim holds its key without a heartbeat (renewed every
      `lease / 3` while the handler runs); a crashed process's key is free after it.
    - `retention`: how long a completed response is replayed (24 h, on the store's clock).
    - `max_request_body` / `max_stored_body`: bytes read to fingerprint a request (413 above)
      and bytes of response kept for replay (above it the key is released, not stored).
    - `retry_after`: seconds a 503 (store unavailable) asks the client to wait.
    - `reap_interval`: seconds between reaper runs (expired keys deleted, in-progress census).
    - `fingerprint_secret`: HMAC key for fingerprints (None: plain SHA-256).
    """

    header: str = "Idempotency-Key"
    lease: float = 30.0
    retention: float = 24 * 3600.0
    max_request_body: int = 1024 * 1024
    max_stored_body: int = 256 * 1024
    retry_after: float = 1.0
    reap_interval: float = 60.0
    reap_batch: int = 1000
    replayed_headers: frozenset[str] = REPLAYED_HEADERS
    fingerprint_secret: bytes | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        for name in ("lease", "retention", "retry_after", "reap_interval"):
            _seconds(name, getattr(self, name))
        if self.retention < self.lease:
            raise ConfigError("retention must be at least one lease")
        for name in ("max_request_body", "max_stored_body", "reap_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if not self.header.strip() or not self.header.isascii():
            raise ConfigError("header must name an ASCII header")
        lowered = frozenset(h.lower() for h in self.replayed_headers)
        forbidden = sorted(lowered & _NEVER_REPLAYED)
        if forbidden:
            raise ConfigError(f"{forbidden} must never be replayed to another request")
        object.__setattr__(self, "replayed_headers", lowered)

    @property
    def header_name(self) -> bytes:
        """The header's raw (lower-case) name, as ASGI carries it."""
        return self.header.lower().encode("ascii")


@dataclass(frozen=True, slots=True)
class Protected:
    """An opted-in route: keyed requests are claimed; `required` refuses unkeyed ones (400);
    `transaction` holds the claim's connection for the handler (`context.connection()`)."""

    required: bool = True
    transaction: bool = False


@dataclass(frozen=True, slots=True)
class Exempt:
    """An unsafe route left without the layer on purpose; the reason shows in the gate."""

    reason: str


def idempotent(*, required: bool = True, transaction: bool = False) -> Callable[[F], F]:
    """Put an endpoint's unsafe methods behind the Idempotency-Key layer.

    `transaction=True` is for handlers whose writes go to the store's database: the connection
    that claimed the key stays checked out for the request, and the handler runs its
    transaction on it (`idempotency_context(request).connection()`), saving a checkout.
    """
    return mark_endpoint(IDEMPOTENCY_ATTRIBUTE, Protected(required, transaction))


def not_idempotent(reason: str) -> Callable[[F], F]:
    """Declare an unsafe endpoint safe to repeat, or deliberately unprotected, and say why."""
    if not reason.strip():
        raise ConfigError("not_idempotent needs a reason")
    return mark_endpoint(IDEMPOTENCY_ATTRIBUTE, Exempt(reason))
