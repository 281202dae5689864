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


def test_a_success_that_fills_the_window_at_the_threshold_opens_it(fake_clock: FakeClock) -> None:
    """10 failures, then 10 successes: the 20th call, a success, brings the window to min_calls
    at a 50 % failure rate, and the breaker opens then (not at the next failure)."""
    b = breaker(fake_clock)
    for failed in [True] * 10 + [False] * 9:
        b.record(b.acquire(), failure=failed, slow=False, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.CLOSED
    b.record(b.acquire(), failure=False, slow=False, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.OPEN
    b2 = breaker(fake_clock)
    for failed in [True] * 9 + [False] * 11:  # 45 %: a success never lifts it to the threshold
        b2.record(b2.acquire(), failure=failed, slow=False, now=fake_clock.monotonic())
    assert state_of(b2) is BreakerState.CLOSED


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


def test_it_opens_on_the_failure_that_reaches_the_threshold_not_one_before(
    fake_clock: FakeClock,
) -> None:
    """11 successes then failures: 9 (45 %) and 10 of 21 (47.6 %) keep it closed; 11 of 22 opens."""
    b = breaker(fake_clock)
    feed(b, fake_clock, failures=9, successes=11)
    feed(b, fake_clock, failures=1)
    assert state_of(b) is BreakerState.CLOSED
    assert b.window.counts(fake_clock.monotonic()) == (21, 10, 0)
    feed(b, fake_clock, failures=1)
    assert state_of(b) is BreakerState.OPEN
    assert b.opened_total == 1


def test_a_slow_rate_under_100_percent_opens_at_its_threshold(fake_clock: FakeClock) -> None:
    """With slow_rate 0.5, fast calls then slow ones: 9 slow of 20 keep it closed, 10 open it."""
    for slow_calls, expected in ((9, BreakerState.CLOSED), (10, BreakerState.OPEN)):
        b = breaker(fake_clock, slow_rate=0.5)
        for n in range(20):
            slow = n >= 20 - slow_calls
            b.record(b.acquire(), failure=False, slow=slow, now=fake_clock.monotonic())
        assert state_of(b) is expected, slow_calls


def test_the_slow_call_threshold_is_its_own_setting_else_the_callers(
    fake_clock: FakeClock,
) -> None:
    """A breaker configured with slow_call uses it; otherwise the attempt timeout it was given."""
    own = CircuitBreaker("p", BreakerConfig(slow_call=0.25), slow_call=1.0, clock=fake_clock)
    given = CircuitBreaker("p", BreakerConfig(), slow_call=1.0, clock=fake_clock)
    assert (own.slow_call, given.slow_call) == (0.25, 1.0)


def test_half_open_closes_on_the_last_probe_success_not_before(fake_clock: FakeClock) -> None:
    """With 3 probes, two successes leave it half-open (one permit left); the third closes it."""
    b = breaker(fake_clock)
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    permits = [b.acquire() for _ in range(3)]
    for epoch in permits[:2]:
        b.record(epoch, failure=False, slow=False, now=fake_clock.monotonic())
        assert state_of(b) is BreakerState.HALF_OPEN
    b.record(permits[2], failure=False, slow=False, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.CLOSED


def test_a_slow_probe_reopens_it(fake_clock: FakeClock) -> None:
    """A probe that succeeds but is slow counts as a failed probe."""
    b = breaker(fake_clock, probes=1)
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    b.record(b.acquire(), failure=False, slow=True, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.OPEN
    assert b.retry_after() == 10.0


def test_a_late_probe_of_an_earlier_half_open_period_is_stale(fake_clock: FakeClock) -> None:
    """A probe that returns after its period ended counts toward neither closing nor opening."""
    b = breaker(fake_clock, probes=2)
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    late, failing = b.acquire(), b.acquire()
    b.record(failing, failure=True, slow=False, now=fake_clock.monotonic())
    fake_clock.advance(b.retry_after())
    probe = b.acquire()
    b.record(late, failure=False, slow=False, now=fake_clock.monotonic())
    b.record(probe, failure=False, slow=False, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.HALF_OPEN
    assert b.stale_total == 1
    b.record(b.acquire(), failure=False, slow=False, now=fake_clock.monotonic())
    assert state_of(b) is BreakerState.CLOSED


def test_a_stale_release_grants_no_extra_probe(fake_clock: FakeClock) -> None:
    """In half-open, releasing a permit from before the trip adds no probe; a current one does."""
    b = breaker(fake_clock, probes=1)
    early = b.acquire()
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    probe = b.acquire()
    b.release(early)
    with pytest.raises(CircuitOpen):
        b.acquire()
    b.release(probe)
    b.acquire()
    with pytest.raises(CircuitOpen):
        b.acquire()


def test_retry_after_in_each_state(fake_clock: FakeClock) -> None:
    """Closed 0; open: the open time left (at the given time); half-open: 0 while a probe permit
    is free, else one second; forced open: the open time; disabled 0."""
    b = breaker(fake_clock)
    assert b.retry_after() == 0.0
    trip(b, fake_clock)
    opened = fake_clock.monotonic()
    assert b.retry_after() == 5.0
    assert b.retry_after(opened + 2.0) == 3.0
    fake_clock.advance(6.0)
    assert b.retry_after() == 0.0
    assert state_of(b) is BreakerState.HALF_OPEN
    b.acquire()
    b.acquire()
    assert b.retry_after() == 0.0
    b.acquire()
    assert b.retry_after() == 1.0
    with pytest.raises(CircuitOpen) as refused:
        b.acquire()
    assert refused.value.retry_after == 1.0
    short = breaker(fake_clock, open_for=0.5, probes=1)
    trip(short, fake_clock)
    fake_clock.advance(0.5)
    short.acquire()
    assert short.retry_after() == 0.5
    b.force_open()
    assert b.retry_after() == 5.0
    b.disable()
    assert b.retry_after() == 0.0


def test_a_refusal_names_the_breaker_and_its_state(fake_clock: FakeClock) -> None:
    """CircuitOpen says which dependency's breaker refused and in which state."""
    b = breaker(fake_clock, probes=1)
    trip(b, fake_clock)
    with pytest.raises(CircuitOpen, match=r"^the processor breaker is open$"):
        b.acquire()
    fake_clock.advance(5.0)
    b.acquire()
    with pytest.raises(CircuitOpen, match=r"^the processor breaker is half_open$"):
        b.acquire()
    b.force_open()
    with pytest.raises(CircuitOpen, match=r"^the processor breaker is forced_open$"):
        b.acquire()


def test_trips_refusals_and_stale_results_are_counted(fake_clock: FakeClock) -> None:
    """Two trips, three refusals and two stale results are counted exactly."""
    b = breaker(fake_clock, probes=1)
    stale = [b.acquire(), b.acquire()]
    trip(b, fake_clock)
    for _ in range(3):
        with pytest.raises(CircuitOpen):
            b.acquire()
    for epoch in stale:
        b.record(epoch, failure=True, slow=False, now=fake_clock.monotonic())
    fake_clock.advance(5.0)
    b.record(b.acquire(), failure=True, slow=False, now=fake_clock.monotonic())
    assert (b.opened_total, b.rejected_total, b.stale_total) == (2, 3, 2)


def test_reset_forgets_the_backoff(fake_clock: FakeClock) -> None:
    """After repeated trips an operator's reset makes the next trip open for open_for again."""
    b = breaker(fake_clock, probes=1)
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    b.record(b.acquire(), failure=True, slow=False, now=fake_clock.monotonic())
    assert b.retry_after() == 10.0
    b.reset()
    trip(b, fake_clock)
    assert b.retry_after() == 5.0


def test_each_transition_is_announced_once_with_the_breaker_name(fake_clock: FakeClock) -> None:
    """closed → open → half_open → closed, each reported once; a reset while closed is silent."""
    seen: list[tuple[str, BreakerState, BreakerState]] = []
    b = CircuitBreaker(
        "processor",
        BreakerConfig(probes=1),
        slow_call=1.0,
        clock=fake_clock,
        on_transition=lambda *moved: seen.append(moved),
    )
    trip(b, fake_clock)
    fake_clock.advance(5.0)
    b.record(b.acquire(), failure=False, slow=False, now=fake_clock.monotonic())
    b.reset()
    closed, opened, half = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
    assert seen == [
        ("processor", closed, opened),
        ("processor", opened, half),
        ("processor", half, closed),
    ]
