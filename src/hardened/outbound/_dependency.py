"""Dependency: one external service behind a fixed composition, outermost first::

    total deadline → retry + budget → breaker → bulkhead → attempt timeout → the call

The first attempt runs inline (a permit check, a slot, one timer); only a retryable failure
starts the retry machinery. Retries never sleep past the deadline nor into an open breaker.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from hardened.breaker import (
    BreakerState,
    Bulkhead,
    CircuitBreaker,
    breaker_state,
    bulkhead_state,
    join,
)
from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.deadline import current_budget, deadline_scope
from hardened.errors import (
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    DependencyTimeout,
    RejectedError,
)
from hardened.gates import Installer
from hardened.outbound._classify import is_failure
from hardened.outbound._config import FAILURE_STATUSES, DependencyConfig
from hardened.outbound._hooks import DependencyHooks, prometheus_hooks
from hardened.retry import RetryPolicy, retry_state

if TYPE_CHECKING:
    import httpx

__all__ = ["Dependency"]

T = TypeVar("T")


class Dependency:
    """An external service: `await dep.call(fn, *args)`, or `dep.transport(...)` for httpx.

    Register it with `Service(..., mechanisms=[dep])`: the breaker gate then lists it, and its
    state is exported. Calls are retried only when idempotent: `idempotent=True`, or an
    `idempotency_key` that the call sends to the dependency.
    """

    deadline_usage = "attempt timeout and retry waits capped by remaining(); header per attempt"

    def __init__(
        self,
        name: str,
        config: DependencyConfig | None = None,
        *,
        clock: Clock | None = None,
        hooks: Sequence[DependencyHooks] = (),
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not name or not name.replace("-", "_").replace(".", "_").isidentifier():
            raise ConfigError(f"a dependency name must be a simple identifier, not {name!r}")
        self.name = name
        self.config = config or DependencyConfig()
        self._hooks = list(hooks)
        self._rng = rng
        self._clock_given = clock is not None
        # A fault awaited before each attempt's call (drills make the dependency fail or hang).
        self.fault: Callable[[], Awaitable[None]] | None = None
        self._bind(clock or SYSTEM_CLOCK)

    def _bind(self, clock: Clock) -> None:
        config = self.config
        self._clock = clock
        self.breaker = CircuitBreaker(
            self.name,
            config.breaker,
            slow_call=config.slow_call,
            clock=clock,
            on_transition=self._transition,
        )
        self.bulkhead = Bulkhead(self.name, config.bulkhead, clock=clock)
        self.retry = RetryPolicy(config.retry, clock=clock, rng=self._rng, on_retry=self._retried)
        self._slow = config.slow_call
        self._retries = config.retry.attempts > 1

    # -- the call path -----------------------------------------------------------------------

    async def call(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        idempotent: bool = False,
        idempotency_key: str | None = None,
    ) -> T:
        """`await fn(*args)` through the dependency's limits; retried only when idempotent."""
        started = self._clock.monotonic()
        self.retry.budget.deposit(started)
        try:
            return await self._attempt(fn, *args)
        except Exception as exc:
            if not (
                self._retries
                and (idempotent or (idempotency_key and self.config.retry.retry_with_key))
                and self._retryable(exc)
            ):
                raise
            first: Exception = exc
        return await self._retry_after_first(fn, args, first, started)

    async def _attempt(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """One attempt: breaker permit → bulkhead slot → attempt timeout → `fn(*args)`."""
        try:
            epoch = self.breaker.acquire()
        except CircuitOpen:
            self._emit("rejected", 0.0)
            raise
        bulkhead = self.bulkhead
        if not bulkhead.try_enter():
            try:
                await bulkhead.enter()
            except BaseException as exc:
                self.breaker.release(epoch)
                if isinstance(exc, RejectedError):
                    self._emit("rejected", 0.0)
                raise
        timeout = self.config.attempt_timeout
        budget = current_budget()
        capped = False
        if budget is not None:
            left = budget.deadline - budget.clock.monotonic()
            if left < timeout:
                if left <= 0:
                    bulkhead.leave()
                    self.breaker.release(epoch)
                    raise DeadlineExceeded(f"no time left to call {self.name}")
                timeout, capped = left, True
        clock = self._clock
        start = clock.monotonic()
        try:
            async with asyncio.timeout(timeout) as timer:
                if self.fault is not None:
                    await self.fault()
                result = await fn(*args)
        except BaseException as exc:
            bulkhead.leave()
            judged = self._judge(epoch, exc, start, expired=timer.expired(), capped=capped)
            if judged is exc:
                raise
            raise judged from exc
        bulkhead.leave()
        now = clock.monotonic()
        self.breaker.record(epoch, failure=False, slow=now - start >= self._slow, now=now)
        if self._hooks:
            self._emit("success", now - start)
        return result

    def _judge(
        self, epoch: int, error: BaseException, start: float, *, expired: bool, capped: bool
    ) -> BaseException:
        """Record an attempt that raised; the error the caller should see."""
        now = self._clock.monotonic()
        elapsed = now - start
        if expired and isinstance(error, TimeoutError):
            if capped:  # the request's budget, not the dependency, ran out first
                self._outcome(epoch, "ignored", elapsed, failure=False, now=now)
                return DeadlineExceeded(f"the request budget ran out while calling {self.name}")
            self._outcome(epoch, "failure", elapsed, failure=True, now=now)
            return DependencyTimeout(
                f"{self.name} did not answer within {self.config.attempt_timeout} s"
            )
        if is_failure(error, self.config.failure_statuses):
            self._outcome(epoch, "failure", elapsed, failure=True, now=now)
        else:
            self.breaker.release(epoch)
            self._emit("ignored", elapsed)
        return error

    def _outcome(
        self, epoch: int, outcome: str, elapsed: float, *, failure: bool, now: float
    ) -> None:
        if failure or elapsed >= self._slow:
            self.breaker.record(epoch, failure=failure, slow=elapsed >= self._slow, now=now)
        else:
            self.breaker.release(epoch)
        self._emit(outcome, elapsed)

    def _retryable(self, error: BaseException) -> bool:
        return is_failure(error, self.config.failure_statuses)

    def _veto(self, delay: float) -> BaseException | None:
        wait = self.breaker.retry_after()
        if wait > delay:
            return CircuitOpen(f"the {self.name} breaker is open", retry_after=wait)
        return None

    async def _retry_after_first(
        self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], first: Exception, t0: float
    ) -> T:
        left = self.config.total_timeout - (self._clock.monotonic() - t0)
        if left <= 0:
            raise first
        async with deadline_scope(left, clock=self._clock, source=f"{self.name} dependency"):
            return await self.retry.retry(
                lambda: self._attempt(fn, *args), first, retryable=self._retryable, veto=self._veto
            )

    # -- events ------------------------------------------------------------------------------

    def _emit(self, outcome: str, seconds: float) -> None:
        for hook in self._hooks:
            hook.on_call(self.name, outcome, seconds)

    def _retried(self, attempt: int, delay: float) -> None:
        for hook in self._hooks:
            hook.on_retry(self.name, attempt, delay)

    def _transition(self, name: str, old: BreakerState, new: BreakerState) -> None:
        for hook in self._hooks:
            hook.on_state_change(name, old.value, new.value)

    @property
    def clock(self) -> Clock:
        """The clock this dependency's breaker, bulkhead and retries read."""
        return self._clock

    def transport(self, inner: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncBaseTransport:
        """An httpx transport sending through this dependency (needs httpx installed)."""
        import httpx

        from hardened.outbound._transport import DependencyTransport

        return DependencyTransport(self, inner or httpx.AsyncHTTPTransport())

    # -- the service -------------------------------------------------------------------------

    def install(self, service: Installer) -> None:
        """Join the breaker gate's board, export state and metrics on `service`."""
        if not self._clock_given and service.clock is not self._clock:
            self._bind(service.clock)
        join(service, self)
        subscriber = prometheus_hooks(service.metrics_registry)
        subscriber.start(self.name, self.breaker.state.value)
        self._hooks.append(subscriber)
        clock = self._clock
        service.track_state(
            "breaker", self.name, lambda: breaker_state(self.breaker, clock.monotonic())
        )
        service.track_state(
            "bulkhead", self.name, lambda: bulkhead_state(self.bulkhead), gate="breaker"
        )
        service.track_state(
            "retry_budget",
            self.name,
            lambda: retry_state(self.retry, clock.monotonic()),
            gate="breaker",
        )

    def describe(self) -> dict[str, Any]:
        """The limits in force and their state, for the gate report."""
        config, breaker = self.config, self.config.breaker
        return {
            "name": self.name,
            "attempt_timeout_s": config.attempt_timeout,
            "total_timeout_s": config.total_timeout,
            "breaker": {
                "window_s": breaker.window,
                "min_calls": breaker.min_calls,
                "failure_rate": breaker.failure_rate,
                "slow_rate": breaker.slow_rate,
                "slow_call_s": config.slow_call,
                "open_s": breaker.open_for,
                "max_open_s": breaker.max_open_for,
                "half_open_probes": breaker.probes,
                **breaker_state(self.breaker, self._clock.monotonic()),
            },
            "bulkhead": {
                "max_wait_s": config.bulkhead.max_wait,
                **bulkhead_state(self.bulkhead),
            },
            "retry": config.retry.describe(),
            "failure_statuses": (
                "408, 429, 5xx"
                if config.failure_statuses == FAILURE_STATUSES
                else sorted(config.failure_statuses)
            ),
        }
