"""BreakerConfig and BulkheadConfig: the breaker's window, thresholds, open time and probes;
the bulkhead's concurrency bound and wait."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardened.errors import ConfigError

__all__ = ["BreakerConfig", "BulkheadConfig"]


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be positive finite seconds, not {value!r}")


def _rate(name: str, value: float) -> None:
    if not (0 < value <= 1):
        raise ConfigError(f"{name} must be a rate in (0, 1], not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig:
    """A rate-based breaker over a sliding time window of 1 s buckets.

    It opens when at least `min_calls` calls were recorded in the window and the failure rate
    reaches `failure_rate` or the slow-call rate reaches `slow_rate` (slow: the call took
    `slow_call` seconds or more; None means the dependency's attempt timeout). It stays open
    `open_for`, doubled on each trip that follows a failed probe up to `max_open_for`, then lets
    `probes` concurrent calls through; they all succeed → closed, one fails → open again.
    """

    # Resilience4j counts 100 calls; a 10 s time window reacts within one window at any rate.
    window: float = 10.0
    # Rates mean nothing over a handful of calls: 20 is Polly's lower bound scaled to 10 s.
    min_calls: int = 20
    failure_rate: float = 0.5
    # 100 %: every call in the window slow (Resilience4j's default rate, with a real threshold).
    slow_rate: float = 1.0
    slow_call: float | None = None
    # Polly's 5 s break, backing off on repeated trips (Envoy's ejection time grows the same way).
    open_for: float = 5.0
    backoff: float = 2.0
    max_open_for: float = 60.0
    probes: int = 3

    def __post_init__(self) -> None:
        _positive("window", self.window)
        _positive("open_for", self.open_for)
        _positive("max_open_for", self.max_open_for)
        if self.slow_call is not None:
            _positive("slow_call", self.slow_call)
        if self.window < 1 or self.window > 3600:
            raise ConfigError(f"window must be 1 to 3600 s (1 s buckets), not {self.window}")
        _rate("failure_rate", self.failure_rate)
        _rate("slow_rate", self.slow_rate)
        if self.min_calls < 1:
            raise ConfigError(f"min_calls must be at least 1, not {self.min_calls}")
        if self.probes < 1:
            raise ConfigError(f"probes must be at least 1, not {self.probes}")
        if not (math.isfinite(self.backoff) and self.backoff >= 1):
            raise ConfigError(f"backoff must be a finite factor ≥ 1, not {self.backoff}")
        if self.max_open_for < self.open_for:
            raise ConfigError("max_open_for must not be shorter than open_for")

    @property
    def buckets(self) -> int:
        """How many 1 s buckets the window holds."""
        return math.ceil(self.window)


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkheadConfig:
    """At most `max_concurrent` calls in flight to one dependency; a caller past it waits up to
    `max_wait` seconds for a slot, then gets `BulkheadFull`."""

    # Resilience4j's 25: enough for a dependency answering in 50 ms at 500 calls/s.
    max_concurrent: int = 25
    # A short queue absorbs bursts; a longer one would only move the wait off the dependency.
    max_wait: float = 0.1

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ConfigError(f"max_concurrent must be at least 1, not {self.max_concurrent}")
        if not (math.isfinite(self.max_wait) and 0 <= self.max_wait <= 1.0):
            raise ConfigError(f"max_wait must be 0 to 1 s, not {self.max_wait}")
