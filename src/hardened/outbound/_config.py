"""DependencyConfig: one external service's attempt timeout, total time, breaker, bulkhead and
retries, checked against each other when it is built."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hardened.breaker import BreakerConfig, BulkheadConfig
from hardened.errors import ConfigError
from hardened.retry import RetryConfig

__all__ = ["FAILURE_STATUSES", "DependencyConfig"]

# Microsoft's standard handler and GATES.md: these answers count as the dependency failing.
FAILURE_STATUSES = frozenset({408, 429, *range(500, 600)})


def _seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be positive finite seconds, not {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyConfig:
    """Every limit of one dependency; the order they apply in is fixed by `Dependency`.

    `attempt_timeout` bounds one attempt (and is the slow-call threshold unless the breaker
    sets its own); `total_timeout` bounds the call with its retries and waits. The request
    budget, when nearer, wins over both.
    """

    # Microsoft's standard handler uses 10 s; 2 s fits the breaker's 10 s window five times
    # and a 10 s request budget with room for two retries.
    attempt_timeout: float = 2.0
    total_timeout: float = 10.0
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    bulkhead: BulkheadConfig = field(default_factory=BulkheadConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    failure_statuses: frozenset[int] = FAILURE_STATUSES

    def __post_init__(self) -> None:
        _seconds("attempt_timeout", self.attempt_timeout)
        _seconds("total_timeout", self.total_timeout)
        if self.attempt_timeout > self.total_timeout:
            raise ConfigError(
                f"attempt_timeout ({self.attempt_timeout} s) must not exceed total_timeout "
                f"({self.total_timeout} s)"
            )
        if self.breaker.window < 2 * self.attempt_timeout:
            raise ConfigError(
                f"the breaker window ({self.breaker.window} s) must be at least twice the "
                f"attempt timeout ({self.attempt_timeout} s), or slow calls end outside it"
            )
        delays = self.retry.worst_case_delays()
        if delays >= self.total_timeout:
            raise ConfigError(
                f"the retry waits can add up to {delays:.2f} s, which leaves no time of the "
                f"{self.total_timeout} s total for the attempts themselves"
            )
        if any(not 100 <= status <= 599 for status in self.failure_statuses):
            raise ConfigError("failure_statuses must be HTTP status codes")

    @property
    def slow_call(self) -> float:
        """The duration from which a call counts as slow."""
        return self.breaker.slow_call or self.attempt_timeout
