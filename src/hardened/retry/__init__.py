"""Retries: bounded attempts, capped exponential backoff with full jitter, deadline-aware
waits, Retry-After, and a retry budget per dependency; only idempotent calls are repeated.

The first attempt is a plain await; tenacity runs only the retries. `hardened.outbound`
composes a `RetryPolicy` with the breaker and bulkhead of one `Dependency`.
"""

from hardened.retry._budget import RetryBudget
from hardened.retry._config import SAFE_METHODS, UNSAFE_METHODS, RetryConfig
from hardened.retry._policy import RetryPolicy, Veto, retry_after_of
from hardened.retry._state import retry_state

__all__ = [
    "SAFE_METHODS",
    "UNSAFE_METHODS",
    "RetryBudget",
    "RetryConfig",
    "RetryPolicy",
    "Veto",
    "retry_after_of",
    "retry_state",
]
