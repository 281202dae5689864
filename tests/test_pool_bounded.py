"""BoundedPool: permits in arrival order, waits bounded by the timeout and the request budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from hardened import ConfigError, DeadlineExceeded, PoolExhausted, deadline_scope
from hardened.pool import BoundedPool, PoolConfig
from hardened.testing import FakeClock


async def test_free_permits_are_taken_without_waiting() -> None:
    """Up to max_size callers get a permit at once; the stats count them in use."""
    pool = BoundedPool("p", max_size=2, acquire_timeout=1.0)
    await pool.take()
    await pool.take()
    assert pool.stats.in_use == 2
    assert pool.stats.peak_in_use == 2
    assert not pool.try_take()


async def test_a_saturated_pool_refuses_after_the_acquire_timeout() -> None:
    """With every permit held, a caller gets PoolExhausted with Retry-After after the timeout."""
    pool = BoundedPool("p", max_size=1, acquire_timeout=0.1, retry_after=2.0)
    await pool.take()
    began = time.monotonic()
    with pytest.raises(PoolExhausted) as caught:
        await pool.take()
    elapsed = time.monotonic() - began
    assert 0.09 <= elapsed < 0.1 + 0.1
    assert caught.value.retry_after == 2.0
    assert caught.value.status == 503
    assert pool.stats.acquire_timeouts == 1
    assert pool.stats.waiting == 0


async def test_the_request_budget_shortens_the_wait(fake_clock: FakeClock) -> None:
    """With 0.1 s of budget left, an acquire with a 1 s timeout gives up after about 0.1 s.
    (The budget is spent down on its own clock, so the scope's own timer, armed for 60 s, never
    races the pool's: on a late loop both would fire in one turn and the scope's would win.)"""
    pool = BoundedPool("p", max_size=1, acquire_timeout=1.0)
    await pool.take()
    async with deadline_scope(60.0, clock=fake_clock):
        fake_clock.advance(59.9)
        began = time.monotonic()
        with pytest.raises(PoolExhausted, match="remaining budget"):
            await pool.take()
        assert time.monotonic() - began < 0.1 + 0.2  # the budget, not the 1 s acquire timeout
    assert pool.stats.acquire_timeouts == 1


async def test_a_spent_budget_is_a_deadline_error(fake_clock: FakeClock) -> None:
    """A caller whose budget is already spent gets DeadlineExceeded, not a wait (the budget is
    spent on its own clock, so no timer of the machine's decides the outcome)."""
    pool = BoundedPool("p", max_size=1, acquire_timeout=1.0)
    await pool.take()
    async with deadline_scope(60.0, clock=fake_clock):
        fake_clock.advance(60.0)
        with pytest.raises(DeadlineExceeded, match="no time left"):
            await pool.take()
        assert pool.stats.waiting == 0
        assert not pool.stats.acquire_timeouts


async def test_waiters_are_served_in_arrival_order() -> None:
    """Permits given back go to the longest waiter first."""
    pool = BoundedPool("p", max_size=1, acquire_timeout=1.0)
    await pool.take()
    served: list[int] = []

    async def wait(number: int) -> None:
        await pool.take()
        served.append(number)

    tasks = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    assert pool.stats.waiting == 3
    for _ in range(3):
        pool.give()
        await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*tasks), 1.0)
    assert served == [0, 1, 2]


async def test_a_cancelled_waiter_does_not_leak_a_permit() -> None:
    """A waiter cancelled while waiting leaves the permit count whole."""
    pool = BoundedPool("p", max_size=1, acquire_timeout=1.0)
    await pool.take()
    waiter = asyncio.create_task(pool.take())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    pool.give()
    assert pool.try_take()
    assert pool.stats.in_use == 1
    assert pool.stats.waiting == 0


def test_the_config_requires_a_finite_bound_and_sane_timeouts() -> None:
    """max_size must be a positive whole number; timeouts positive and finite."""
    with pytest.raises(ConfigError):
        PoolConfig(max_size=0)
    with pytest.raises(ConfigError):
        PoolConfig(max_size=float("inf"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        PoolConfig(max_size=5, acquire_timeout=float("inf"))
    with pytest.raises(ConfigError):
        PoolConfig(max_size=5, min_size=6)


def test_pgbouncer_mode_turns_the_statement_cache_off() -> None:
    """pgbouncer=True means no cached prepared statements; asking for both is an error."""
    assert PoolConfig(max_size=5, pgbouncer=True).cache_size == 0
    assert PoolConfig(max_size=5).cache_size > 0
    with pytest.raises(ConfigError, match="statement_cache_size=0"):
        PoolConfig(max_size=5, pgbouncer=True, statement_cache_size=100)
