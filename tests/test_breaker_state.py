"""The circuit breaker's state machine on FakeClock: thresholds, probes, epochs, backoff."""

from __future__ import annotations

import asyncio

import pytest

from hardened import CircuitOpen, ConfigError
from hardened.breaker import BreakerConfig, BreakerState, CircuitBreaker
from hardened.outbound import Dependency, DependencyConfig
from hardened.testing import FakeClock


def breaker(clock: FakeClock, **config: float) -> CircuitBreaker:
    return CircuitBreaker("processor", BreakerConfig(**config), slow_call=1.0, clock=clock)  # type: ignore[arg-type]


def state_of(b: CircuitBreaker) -> BreakerState:
    """The state now (a function call, so each read is a fresh one for the type checker)."""
    return b.state


def feed(b: CircuitBreaker, clock: FakeClock, *, failures: int, successes: int = 0) -> None:
    for failed in [False] * successes + [True] * failures:
        epoch = b.acquire()
        b.record(epoch, failure=failed, slow=False, now=clock.monotonic())


def trip(b: CircuitBreaker, clock: FakeClock) -> None:
    feed(b, clock, failures=b.config.min_calls)
    assert state_of(b) is BreakerState.OPEN


def test_failures_below_min_calls_never_open_it(fake_clock: FakeClock) -> None:
    """19 failures out of 19 calls leave it closed; the 20th call opens it."""
    b = breaker(fake_clock)
    feed(b, fake_clock, failures=19)
    assert state_of(b) is BreakerState.CLOSED
    feed(b, fake_clock, failures=1)
    assert state_of(b) is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        b.acquire()
    assert refused.value.retry_after == pytest.approx(5.0)


def test_opens_at_the_failure_rate_threshold_not_below(fake_clock: FakeClock) -> None:
    """9 failures in 20 calls (45 %) keep it closed; 10 in 20 (50 %) open it."""
    b = breaker(fake_clock)
    feed(b, fake_clock, failures=9, successes=11)
    assert state_of(b) is BreakerState.CLOSED
    b2 = breaker(fake_clock)
    feed(b2, fake_clock, failures=10, successes=10)
    assert state_of(b2) is BreakerState.OPEN


def test_failures_older_than_the_window_do_not_count(fake_clock: FakeClock) -> None:
    """Failures that slid out of the 10 s window do not add to the rate."""
    b = breaker(fake_clock)
    feed(b, fake_clock, failures=15)
    fake_clock.advance(10.0)
    feed(b, fake_clock, failures=5, successes=5)
    assert state_of(b) is BreakerState.CLOSED
    assert b.window.counts(fake_clock.monotonic()) == (10, 5, 0)


def test_slow_calls_open_it_at_the_slow_rate(fake_clock: FakeClock) -> None:
    """Twenty successful but slow calls open a breaker whose slow-rate threshold is 100 %."""
    b = breaker(fake_clock)
    for _ in range(20):
        b.record(b.acquire(), failure=False, slow=True, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.OPEN


async def test_half_open_admits_exactly_the_probe_count(fake_clock: FakeClock) -> None:
    """After the open time, 3 of 10 concurrent callers probe; the other 7 fail fast."""
    b = breaker(fake_clock)
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    release = asyncio.Event()
    admitted: list[int] = []

    async def caller() -> str:
        try:
            epoch = b.acquire()
        except CircuitOpen:
            return "rejected"
        admitted.append(epoch)
        await release.wait()
        b.record(epoch, failure=False, slow=False, now=fake_clock.monotonic())
        return "probe"

    tasks = [asyncio.create_task(caller()) for _ in range(10)]
    await asyncio.sleep(0)
    assert state_of(b) is BreakerState.HALF_OPEN
    release.set()
    outcomes = await asyncio.gather(*tasks)
    assert outcomes.count("probe") == 3
    assert outcomes.count("rejected") == 7
    assert state_of(b) is BreakerState.CLOSED


def test_a_cancelled_probe_gives_its_permit_back(fake_clock: FakeClock) -> None:
    """A probe released without an outcome lets the next caller probe instead."""
    b = breaker(fake_clock, probes=1)
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    epoch = b.acquire()
    with pytest.raises(CircuitOpen):
        b.acquire()
    b.release(epoch)
    b.record(b.acquire(), failure=False, slow=False, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.CLOSED


async def test_a_cancelled_call_through_a_dependency_releases_the_probe(
    fake_clock: FakeClock,
) -> None:
    """A caller cancelled mid-probe does not leave the breaker stuck in half-open."""
    dependency = Dependency("processor", DependencyConfig(), clock=fake_clock)
    trip(dependency.breaker, fake_clock)
    fake_clock.advance(5.0)
    hang = asyncio.Event()
    probes = [asyncio.create_task(dependency.call(hang.wait)) for _ in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpen):
        await dependency.call(asyncio.sleep, 0)
    for probe in probes:
        probe.cancel()
    await asyncio.gather(*probes, return_exceptions=True)
    for _ in range(3):
        await dependency.call(asyncio.sleep, 0)
    assert state_of(dependency.breaker) is BreakerState.CLOSED


def test_a_stale_success_from_before_the_trip_does_not_close_it(fake_clock: FakeClock) -> None:
    """A call that started while closed and succeeds after the trip is ignored."""
    b = breaker(fake_clock, probes=1)
    early = b.acquire()
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    probe = b.acquire()
    b.record(early, failure=False, slow=False, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.stale_total == 1
    b.record(probe, failure=False, slow=False, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.CLOSED


def test_repeated_trips_back_off_the_open_time(fake_clock: FakeClock) -> None:
    """A failed probe reopens it for twice as long each time, up to the cap, and a close resets."""
    b = breaker(fake_clock, probes=1, max_open_for=15.0)
    trip(b, fake_clock)
    waits = []
    for _ in range(4):
        waits.append(b.retry_after())
        fake_clock.advance(b.retry_after())
        b.record(b.acquire(), failure=True, slow=False, now=fake_clock.monotonic())
    assert waits == [5.0, 10.0, 15.0, 15.0]
    fake_clock.advance(b.retry_after())
    b.record(b.acquire(), failure=False, slow=False, now=fake_clock.monotonic())
    trip(b, fake_clock)
    assert b.retry_after() == 5.0


def test_forced_open_and_disabled_are_operator_states(fake_clock: FakeClock) -> None:
    """Forced open refuses even after the open time; disabled lets every failure through."""
    b = breaker(fake_clock)
    b.force_open()
    fake_clock.advance(60.0)
    with pytest.raises(CircuitOpen):
        b.acquire()
    assert state_of(b) is BreakerState.FORCED_OPEN
    b.disable()
    feed(b, fake_clock, failures=50)
    assert state_of(b) is BreakerState.DISABLED
    b.reset()
    assert state_of(b) is BreakerState.CLOSED
    b.acquire()


def test_invalid_breaker_settings_are_refused() -> None:
    """Rates outside (0, 1], zero probes or a window under a second are ConfigErrors."""
    for bad in ({"failure_rate": 0.0}, {"probes": 0}, {"window": 0.5}, {"backoff": 0.5}):
        with pytest.raises(ConfigError):
            BreakerConfig(**bad)
