"""Dependency in process: failure classification, attempt timeout, deadline, hooks, metrics."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import generate_latest

from hardened import CircuitOpen, ConfigError, DeadlineExceeded, Service, deadline_scope
from hardened.breaker import BreakerConfig, BreakerState
from hardened.outbound import Dependency, DependencyConfig
from hardened.testing import FakeClock


class Recorder:
    """A hook subscriber that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def on_call(self, dependency: str, outcome: str, seconds: float) -> None:
        self.events.append(("call", dependency, outcome))

    def on_retry(self, dependency: str, attempt: int, delay: float) -> None:
        self.events.append(("retry", dependency, str(attempt)))

    def on_state_change(self, dependency: str, old: str, new: str) -> None:
        self.events.append(("state", old, new))


async def refuse() -> None:
    raise ConnectionRefusedError("connection refused")


async def bug() -> None:
    raise ValueError("the caller's own bug")


def quick(**breaker: float) -> DependencyConfig:
    return DependencyConfig(attempt_timeout=0.1, breaker=BreakerConfig(**breaker))  # type: ignore[arg-type]


async def test_other_errors_are_ignored_not_counted_and_not_retried() -> None:
    """A ValueError reaches the caller unchanged, once, and never opens the breaker."""
    dependency = Dependency("processor", quick(min_calls=1))
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        await bug()

    for _ in range(5):
        with pytest.raises(ValueError, match="own bug"):
            await dependency.call(broken, idempotent=True)
    assert calls == 5
    assert dependency.breaker.state is BreakerState.CLOSED
    assert dependency.breaker.window.calls == 0


async def test_cancellation_propagates_and_never_counts() -> None:
    """A caller cancelled mid-call sees CancelledError; the breaker records nothing."""
    dependency = Dependency("processor", quick(min_calls=1))
    task = asyncio.create_task(dependency.call(asyncio.sleep, 0.05))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert dependency.breaker.window.calls == 0
    assert dependency.bulkhead.in_use == 0


async def test_a_hanging_call_is_cut_at_the_attempt_timeout() -> None:
    """A call that never answers raises TimeoutError after 100 ms and counts as a failure."""
    dependency = Dependency("processor", quick(min_calls=1))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"within 0\.1 s"):
        await dependency.call(asyncio.Event().wait)
    assert 0.1 <= time.monotonic() - started < 0.1 + 0.25
    assert dependency.breaker.state is BreakerState.OPEN


async def test_the_request_budget_cuts_an_attempt_without_blaming_the_dependency() -> None:
    """With 30 ms of budget left, the call ends in DeadlineExceeded; the breaker stays closed."""
    dependency = Dependency("processor", quick(min_calls=1))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        async with deadline_scope(0.03):
            await dependency.call(asyncio.Event().wait)
    assert time.monotonic() - started < 0.03 + 0.25
    assert dependency.breaker.state is BreakerState.CLOSED


async def test_an_open_breaker_fails_fast_and_retries_do_not_wait_for_it(
    fake_clock: FakeClock,
) -> None:
    """The failure that opens the breaker ends the call with CircuitOpen; later calls fail fast."""
    recorder = Recorder()
    dependency = Dependency("processor", quick(min_calls=1), clock=fake_clock, hooks=[recorder])
    with pytest.raises(CircuitOpen) as opened:
        await dependency.call(refuse, idempotent=True)
    assert isinstance(opened.value.__cause__, ConnectionRefusedError)
    assert opened.value.retry_after == pytest.approx(5.0)
    assert fake_clock.sleepers == 0
    with pytest.raises(CircuitOpen):
        await dependency.call(refuse, idempotent=True)
    assert recorder.events == [
        ("state", "closed", "open"),
        ("call", "processor", "failure"),
        ("call", "processor", "rejected"),
    ]


async def test_metrics_count_calls_by_outcome_on_the_service_registry() -> None:
    """The service's /metrics registry shows calls by outcome, retries and the breaker state."""
    dependency = Dependency("processor", quick())
    service = Service("payments", mechanisms=[dependency])
    await dependency.call(asyncio.sleep, 0)
    with pytest.raises(ValueError, match="own bug"):
        await dependency.call(bug)
    text = generate_latest(service.metrics_registry).decode()
    assert 'hardened_dependency_calls_total{dependency="processor",outcome="success"} 1.0' in text
    assert 'hardened_dependency_calls_total{dependency="processor",outcome="ignored"} 1.0' in text
    assert 'hardened_dependency_breaker_state{dependency="processor",state="closed"} 1.0' in text
    assert (
        'hardened_mechanism_state{field="max_concurrent",kind="bulkhead",name="processor"} 25.0'
        in text
    )
    assert 'kind="retry_budget",name="processor"' in text


def test_limits_that_contradict_each_other_are_refused() -> None:
    """An attempt longer than the total, or a window under two attempts, is a ConfigError."""
    with pytest.raises(ConfigError, match="total_timeout"):
        DependencyConfig(attempt_timeout=5.0, total_timeout=2.0)
    with pytest.raises(ConfigError, match="twice the attempt timeout"):
        DependencyConfig(attempt_timeout=6.0, breaker=BreakerConfig(window=10.0))
    with pytest.raises(ConfigError, match="identifier"):
        Dependency("payment processor")


async def test_each_retry_is_an_event_and_a_counted_series(fake_clock: FakeClock) -> None:
    """Two retries reach the hooks with their attempt numbers and the retries counter."""
    recorder = Recorder()
    dependency = Dependency("processor", clock=fake_clock, hooks=[recorder], rng=lambda: 0.0)
    service = Service("payments", mechanisms=[dependency], clock=fake_clock)
    with pytest.raises(ConnectionRefusedError):
        await dependency.call(refuse, idempotent=True)
    assert [e for e in recorder.events if e[0] == "retry"] == [
        ("retry", "processor", "1"),
        ("retry", "processor", "2"),
    ]
    text = generate_latest(service.metrics_registry).decode()
    assert 'hardened_dependency_retries_total{dependency="processor"} 2.0' in text
    assert 'hardened_dependency_calls_total{dependency="processor",outcome="failure"} 3.0' in text
