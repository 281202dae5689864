"""RetryPolicy: the retries after a failed first attempt, run by tenacity.

The first attempt is the caller's own await; only when it fails with a retryable error does
`retry()` build a fresh `AsyncRetrying` (never shared: tenacity's state is per run) that waits
with full jitter or the dependency's `Retry-After`, and stops when the attempts are spent, the
wait would pass the deadline, the budget is empty, or the caller's `veto` says the next attempt
would be refused anyway (an open breaker).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.deadline import remaining
from hardened.retry._budget import RetryBudget
from hardened.retry._config import RetryConfig

__all__ = ["RetryPolicy", "Veto", "retry_after_of"]

T = TypeVar("T")
# Called with the wait before the next attempt: an error to raise instead of waiting, or None.
Veto = Callable[[float], BaseException | None]
OnRetry = Callable[[int, float], None]


def retry_after_of(error: BaseException | None) -> float | None:
    """The wait an error asks for (`retry_after` seconds, e.g. from a Retry-After header)."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    return None


class _Run:
    """One retried call's veto, kept apart from every other call's."""

    __slots__ = ("vetoed",)

    def __init__(self) -> None:
        self.vetoed: BaseException | None = None


class RetryPolicy:
    """Retries for one dependency: `config`, its budget, the clock it sleeps on."""

    __slots__ = ("_clock", "_on_retry", "_random", "budget", "config", "stops")

    def __init__(
        self,
        config: RetryConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: Callable[[], float] = random.random,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.config = config or RetryConfig()
        self.budget = RetryBudget(
            ratio=self.config.budget_ratio,
            min_per_second=self.config.budget_min_per_second,
            window=self.config.budget_window,
        )
        self._clock = clock
        self._random = rng
        self._on_retry = on_retry
        self.stops: dict[str, int] = {}

    def delay(self, retry: int, error: BaseException | None) -> float:
        """The wait before retry `retry` (0-based): Retry-After (capped) or full jitter."""
        asked = retry_after_of(error)
        if asked is not None:
            return min(asked, self.config.retry_after_cap)
        return self._random() * self.config.max_delay_before(retry)

    async def retry(
        self,
        attempt: Callable[[], Awaitable[T]],
        first: BaseException,
        *,
        retryable: Callable[[BaseException], bool],
        veto: Veto | None = None,
    ) -> T:
        """Retry `attempt` after the first attempt failed with `first`; its result, or the last
        error (or the veto's error, chained to it)."""
        run = _Run()
        replayed = False

        async def next_attempt() -> T:
            nonlocal replayed
            if not replayed:  # tenacity's attempt 1 is the one the caller already made
                replayed = True
                raise first
            return await attempt()

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.delay(state.attempt_number - 1, error)

        def stop(state: RetryCallState) -> bool:
            reason = self._stop_reason(state.attempt_number, state.upcoming_sleep, veto, run)
            if reason:
                self.stops[reason] = self.stops.get(reason, 0) + 1
                return True
            if self._on_retry is not None:
                self._on_retry(state.attempt_number, state.upcoming_sleep)
            return False

        retrying = AsyncRetrying(
            sleep=self._clock.sleep,
            stop=stop,
            wait=wait,
            retry=retry_if_exception(retryable),
            reraise=True,
        )
        try:
            return await retrying(next_attempt)
        except Exception as exc:
            if run.vetoed is not None and run.vetoed is not exc:
                raise run.vetoed from exc
            raise

    def _stop_reason(self, attempts: int, sleep: float, veto: Veto | None, run: _Run) -> str:
        if attempts >= self.config.attempts:
            return "attempts"
        left = remaining()
        if left is not None and sleep >= left:
            return "deadline"
        if veto is not None:
            refusal = veto(sleep)
            if refusal is not None:
                run.vetoed = refusal
                return "breaker"
        if not self.budget.withdraw(self._clock.monotonic()):
            return "budget"
        return ""
