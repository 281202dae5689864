"""RetryConfig: attempts, capped exponential backoff with full jitter, Retry-After, the budget,
and which calls are idempotent enough to repeat."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardened.errors import ConfigError

__all__ = ["SAFE_METHODS", "UNSAFE_METHODS", "RetryConfig"]

# RFC 9110: safe methods and the idempotent PUT and DELETE may be repeated as they are.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
UNSAFE_METHODS = frozenset({"POST", "PATCH", "CONNECT"})


def _seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be positive finite seconds, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    """How a dependency's failed calls are retried.

    `attempts` counts the first call (3 = two retries). The wait before retry n (0-based) is
    ``U(0, min(max_delay, base_delay · 2ⁿ))`` (full jitter), or the dependency's `Retry-After`
    capped at `retry_after_cap`. Retries draw on a budget per dependency: `budget_ratio` of the
    calls seen in the last `budget_window` seconds, plus `budget_min_per_second` each second.

    Only idempotent calls are retried: `retry_methods` (HTTP methods; never POST, PATCH or
    CONNECT), and any call carrying an idempotency key (sent in `idempotency_header`); set
    `retry_with_key=False` to never retry an unsafe call.
    """

    attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 2.0
    retry_after_cap: float = 2.0
    # Finagle's and Envoy's budget: retries at most 20 % of calls, at least 3 a second.
    budget_ratio: float = 0.2
    budget_min_per_second: int = 3
    budget_window: float = 10.0
    retry_methods: frozenset[str] = SAFE_METHODS
    retry_with_key: bool = True
    idempotency_header: str = "Idempotency-Key"

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= 10:
            raise ConfigError(
                f"attempts must be 1 to 10 (the first call included), not {self.attempts}"
            )
        for name in ("base_delay", "max_delay", "retry_after_cap", "budget_window"):
            _seconds(name, getattr(self, name))
        if self.base_delay > self.max_delay:
            raise ConfigError("base_delay must not exceed max_delay")
        if not 0 <= self.budget_ratio <= 1:
            raise ConfigError(f"budget_ratio must be 0 to 1, not {self.budget_ratio}")
        if self.budget_min_per_second < 0:
            raise ConfigError("budget_min_per_second must not be negative")
        if self.budget_window < 1:
            raise ConfigError("budget_window must be at least 1 s")
        methods = {method.upper() for method in self.retry_methods}
        unsafe = sorted(methods & UNSAFE_METHODS)
        if unsafe:
            raise ConfigError(
                f"{', '.join(unsafe)} is not idempotent: retrying it without an idempotency key "
                f"can repeat its side effect; leave it out of retry_methods and send an "
                f"{self.idempotency_header} header on the calls that may be retried"
            )
        unknown = sorted(methods - SAFE_METHODS)
        if unknown:
            raise ConfigError(f"unknown HTTP methods in retry_methods: {unknown}")
        if not self.idempotency_header.strip():
            raise ConfigError("idempotency_header must name a header")
        object.__setattr__(self, "retry_methods", frozenset(methods))

    def max_delay_before(self, retry: int) -> float:
        """The upper bound of the jittered wait before retry `retry` (0-based)."""
        return min(self.max_delay, self.base_delay * 2.0 ** min(retry, 62))

    def worst_case_delays(self) -> float:
        """The longest total the waits between all attempts can take."""
        return sum(
            max(self.max_delay_before(n), self.retry_after_cap) for n in range(self.attempts - 1)
        )

    def describe(self) -> dict[str, object]:
        """The policy in force, for the gate report and the idempotency gate's fact."""
        return {
            "attempts": self.attempts,
            "backoff": "exponential, capped",
            "base_delay_s": self.base_delay,
            "max_delay_s": self.max_delay,
            "jitter": "full",
            "retry_after_cap_s": self.retry_after_cap,
            "budget": {
                "ratio": self.budget_ratio,
                "min_per_second": self.budget_min_per_second,
                "window_s": self.budget_window,
            },
            "retry_methods": sorted(self.retry_methods),
            "unsafe_retry": "with_key" if self.retry_with_key else "never",
            "idempotency_header": self.idempotency_header,
        }
