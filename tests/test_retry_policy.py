"""Retries on FakeClock: bounded, jittered, deadline-aware, Retry-After, budgeted, idempotent."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from hardened import CircuitOpen, ConfigError, deadline_scope
from hardened.breaker import BreakerConfig
from hardened.outbound import Dependency, DependencyConfig
from hardened.retry import RetryConfig, RetryPolicy, retry_after_of
from hardened.testing import FakeClock

T = TypeVar("T")
STEP = 0.001


class Refused(ConnectionError):
    """A transport failure that may carry the dependency's Retry-After."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("refused")
        self.retry_after = retry_after


class Failing:
    """A dependency call that always fails, noting the fake time of each attempt."""

    def __init__(self, clock: FakeClock, *retry_after: float) -> None:
        self.clock = clock
        self.times: list[float] = []
        self.retry_after = list(retry_after)

    async def __call__(self) -> None:
        self.times.append(self.clock.monotonic())
        raise Refused(self.retry_after.pop(0) if self.retry_after else None)

    def delays(self) -> list[float]:
        return [later - earlier for earlier, later in zip(self.times, self.times[1:], strict=False)]


async def drive(clock: FakeClock, work: Awaitable[T], *, limit: float = 30.0) -> T:
    """Run `work`, advancing fake time in 1 ms steps (at most `limit` fake seconds)."""
    task = asyncio.ensure_future(work)
    for _ in range(int(limit / STEP)):
        for _ in range(3):
            await asyncio.sleep(0)
        if task.done():
            return task.result()
        clock.advance(STEP)
    task.cancel()
    raise AssertionError(f"still running after {limit} fake seconds")


def dependency(clock: FakeClock, rng: float | None = None, **retry: object) -> Dependency:
    config = DependencyConfig(
        retry=RetryConfig(**retry),  # type: ignore[arg-type]
        breaker=BreakerConfig(min_calls=1000),
    )
    draw = (lambda: rng) if rng is not None else random.Random(3).random
    return Dependency("processor", config, clock=clock, rng=draw)


async def test_attempts_are_bounded(fake_clock: FakeClock) -> None:
    """A call that always fails is tried three times, then the last error reaches the caller."""
    failing = Failing(fake_clock)
    dep = dependency(fake_clock)
    with pytest.raises(Refused):
        await drive(fake_clock, dep.call(failing, idempotent=True))
    assert len(failing.times) == 3


def test_delays_stay_inside_the_full_jitter_range() -> None:
    """Each wait is drawn from U(0, min(2 s, 0.1 s · 2ⁿ)) and uses most of that range."""
    policy = RetryPolicy(RetryConfig(attempts=8), rng=random.Random(5).random)
    for retry, bound in enumerate((0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0)):
        draws = [policy.delay(retry, None) for _ in range(500)]
        assert all(0 <= d <= bound for d in draws)
        assert max(draws) > 0.9 * bound
        assert min(draws) < 0.1 * bound


async def test_waits_between_attempts_are_the_drawn_delays(fake_clock: FakeClock) -> None:
    """With the random draw fixed at 0.5, the waits are half of 100 ms and of 200 ms."""
    failing = Failing(fake_clock)
    with pytest.raises(Refused):
        await drive(fake_clock, dependency(fake_clock, 0.5).call(failing, idempotent=True))
    assert failing.delays() == pytest.approx([0.05, 0.1], abs=2 * STEP)


async def test_no_wait_runs_past_the_deadline(fake_clock: FakeClock) -> None:
    """With 2 s of budget and waits of 0.9 s then 1.8 s, the second wait is not started."""
    failing = Failing(fake_clock)
    dep = dependency(fake_clock, 0.9, attempts=5, base_delay=1.0)

    async def request() -> None:
        async with deadline_scope(2.0, clock=fake_clock):
            await dep.call(failing, idempotent=True)

    start = fake_clock.monotonic()
    with pytest.raises(Refused):
        await drive(fake_clock, request())
    assert len(failing.times) == 2
    assert fake_clock.monotonic() - start < 2.0
    assert dep.retry.stops == {"deadline": 1}


async def test_retry_after_is_honoured_up_to_its_cap(fake_clock: FakeClock) -> None:
    """Retry-After 0.5 s is waited exactly; 30 s is cut to the 2 s cap."""
    failing = Failing(fake_clock, 0.5, 30.0)
    with pytest.raises(Refused):
        await drive(fake_clock, dependency(fake_clock, 0.0).call(failing, idempotent=True))
    assert failing.delays() == pytest.approx([0.5, 2.0], abs=2 * STEP)


async def test_a_hundred_callers_stay_within_the_retry_budget(fake_clock: FakeClock) -> None:
    """100 calls to a dead dependency make at most 1.2 x 100 + 3 attempts, not 300."""
    failing = Failing(fake_clock)
    dep = dependency(fake_clock)
    dep.breaker.disable()
    calls = [dep.call(failing, idempotent=True) for _ in range(100)]
    outcomes = await drive(fake_clock, asyncio.gather(*calls, return_exceptions=True))
    assert all(isinstance(outcome, Refused) for outcome in outcomes)
    assert 100 + 20 <= len(failing.times) <= 100 * 1.2 + 3
    assert dep.retry.budget.refused_total > 0


async def test_an_unsafe_call_is_retried_only_with_a_key(fake_clock: FakeClock) -> None:
    """Without idempotent=True or a key a failing call is tried once; with a key, three times."""
    dep = dependency(fake_clock)
    once, keyed = Failing(fake_clock), Failing(fake_clock)
    with pytest.raises(Refused):
        await drive(fake_clock, dep.call(once))
    with pytest.raises(Refused):
        await drive(fake_clock, dep.call(keyed, idempotency_key="order-1:charge"))
    assert (len(once.times), len(keyed.times)) == (1, 3)


def test_retrying_an_unsafe_method_without_a_key_is_refused_at_configuration() -> None:
    """Putting POST or PATCH among the retried methods is a ConfigError naming the fix."""
    for method in ("POST", "patch"):
        with pytest.raises(ConfigError, match="Idempotency-Key"):
            RetryConfig(retry_methods=frozenset({"GET", method}))


def test_retry_waits_that_do_not_fit_the_total_time_are_refused() -> None:
    """Waits that could add up past the dependency's total time are a ConfigError."""
    with pytest.raises(ConfigError, match="retry waits"):
        DependencyConfig(total_timeout=5.0, retry=RetryConfig(attempts=4, retry_after_cap=2.0))


def test_a_retry_after_of_zero_means_retry_at_once() -> None:
    """Retry-After 0 is a wait of 0, not a jittered one; negative or non-numeric is ignored."""
    policy = RetryPolicy(rng=lambda: 0.5)
    assert retry_after_of(Refused(0.0)) == 0.0
    assert policy.delay(0, Refused(0.0)) == 0.0
    assert retry_after_of(Refused(-1.0)) is None
    assert retry_after_of(ValueError("no retry_after")) is None
    assert policy.delay(1, Refused(-1.0)) == 0.1


async def test_each_retry_is_reported_with_its_number_and_wait(fake_clock: FakeClock) -> None:
    """The retry hook hears attempt 1 then 2, with the drawn waits of 50 ms and 100 ms."""
    heard: list[tuple[int, float]] = []
    policy = RetryPolicy(
        clock=fake_clock, rng=lambda: 0.5, on_retry=lambda n, wait: heard.append((n, wait))
    )
    failing = Failing(fake_clock)
    with pytest.raises(Refused):
        await drive(fake_clock, policy.retry(failing, Refused(), retryable=is_refused))
    assert heard == [(1, 0.05), (2, 0.1)]
    assert policy.stops == {"attempts": 1}


def is_refused(error: BaseException) -> bool:
    return isinstance(error, Refused)


async def test_why_retries_stopped_is_counted_by_reason(fake_clock: FakeClock) -> None:
    """Two runs out of attempts, one vetoed by the breaker and one refused by the budget are
    counted under their own names."""
    policy = RetryPolicy(clock=fake_clock, rng=lambda: 0.0)
    for _ in range(20):  # calls enough for four retries from the ratio, the floor untouched
        policy.budget.deposit(fake_clock.monotonic())
    for _ in range(2):
        with pytest.raises(Refused):
            await drive(
                fake_clock, policy.retry(Failing(fake_clock), Refused(), retryable=is_refused)
            )
    open_breaker = CircuitOpen("the processor breaker is open", retry_after=3.0)
    with pytest.raises(CircuitOpen) as vetoed:
        await policy.retry(
            Failing(fake_clock), Refused(), retryable=is_refused, veto=lambda _: open_breaker
        )
    assert vetoed.value is open_breaker
    assert isinstance(vetoed.value.__cause__, Refused)
    spent = RetryPolicy(
        RetryConfig(budget_ratio=0.0, budget_min_per_second=0), clock=fake_clock, rng=lambda: 0.0
    )
    failing = Failing(fake_clock)
    with pytest.raises(Refused):
        await spent.retry(failing, Refused(), retryable=is_refused)
    assert failing.times == []
    assert policy.stops == {"attempts": 2, "breaker": 1}
    assert spent.stops == {"budget": 1}


async def test_a_wait_that_would_use_all_the_time_left_is_not_started(
    fake_clock: FakeClock,
) -> None:
    """With exactly 2 s left and a 2 s wait drawn, no retry is made; with 2.5 s, one is."""
    config = RetryConfig(base_delay=2.0, max_delay=2.0)
    for budget_s, attempts in ((2.0, 0), (2.5, 1)):
        policy = RetryPolicy(config, clock=fake_clock, rng=lambda: 1.0)
        failing = Failing(fake_clock)

        async def request(
            policy: RetryPolicy = policy, failing: Failing = failing, budget_s: float = budget_s
        ) -> None:
            async with deadline_scope(budget_s, clock=fake_clock):
                await policy.retry(failing, Refused(), retryable=is_refused)

        with pytest.raises(Refused):
            await drive(fake_clock, request())
        assert len(failing.times) == attempts, budget_s
        assert policy.stops == {"deadline": 1}


async def test_an_error_that_is_not_retryable_ends_the_retries_at_once(
    fake_clock: FakeClock,
) -> None:
    """A retry failing with an error the dependency does not count is raised, not retried."""
    policy = RetryPolicy(clock=fake_clock, rng=lambda: 0.0)
    attempts: list[float] = []

    async def attempt() -> None:
        attempts.append(fake_clock.monotonic())
        raise LookupError("not the dependency's fault")

    with pytest.raises(LookupError):
        await drive(fake_clock, policy.retry(attempt, Refused(), retryable=is_refused))
    assert len(attempts) == 1
    assert policy.stops == {}
