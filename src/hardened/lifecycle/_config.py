"""The lifecycle gate's configuration (edge limits and slow-client timeouts) and route overrides."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hardened._fields import check_fields
from hardened.errors import ConfigError
from hardened.lifecycle._framing import HeaderLimits
from hardened.routes import mark_endpoint

__all__ = ["BODY_LIMIT_ATTRIBUTE", "LifecycleConfig", "MiB", "body_limit"]

MiB = 1024 * 1024
BODY_LIMIT_ATTRIBUTE = "__hardened_body_limit__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecycleConfig:
    """Edge limits of one process.

    - `max_body_bytes`: request body limit (1 MiB); `@body_limit(n)` overrides it per route.
    - `max_in_flight`: requests being handled at once (probes excluded) before 503 +
      `Retry-After: retry_after`. Idle keep-alive sockets do not count. 500 bounds memory
      while staying far above what one event loop serves within a 10 s budget; the adaptive
      shedder (observe gate) is what protects latency below that bound.
    - `header_timeout`: from a connection's (or a request's) first byte to its last header
      byte; also closes a socket that never sends anything. `body_timeout`: the longest
      silence while a body is being read. Enforced by `hardened run`'s protocol classes.
    - `keep_alive_timeout`: idle keep-alive, above `load_balancer_idle_timeout` so the load
      balancer closes first (AWS ALB: 60 s).
    - `linger_timeout`: after a refused upload, how long the rest of the body is read and
      discarded so the client sees the 413 instead of a reset.
    - `header_limits`: bounds on a request head (16 KiB a line, 64 KiB and 100 fields in all);
      past them `hardened run` answers 431 and closes.
    - `slow_clients_handled_by`: a proxy that enforces header/body timeouts in front of this
      process, when `hardened run` is not used (named in the gate's evidence).
    """

    max_body_bytes: int = MiB
    max_in_flight: int = 500
    retry_after: float = 1.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 65.0
    load_balancer_idle_timeout: float = 60.0
    linger_timeout: float = 2.0
    header_limits: HeaderLimits = HeaderLimits()  # noqa: RUF009 - frozen, immutable
    slow_clients_handled_by: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        for name in ("max_body_bytes", "max_in_flight"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        for name in (
            "retry_after",
            "header_timeout",
            "body_timeout",
            "keep_alive_timeout",
            "load_balancer_idle_timeout",
            "linger_timeout",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be positive and finite, not {value!r}")


def body_limit(max_bytes: int) -> Callable[[F], F]:
    """Give one endpoint its own body limit (larger for uploads, smaller for small JSON)."""
    if not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ConfigError(f"a body limit must be a positive integer, not {max_bytes!r}")
    return mark_endpoint(BODY_LIMIT_ATTRIBUTE, max_bytes)
