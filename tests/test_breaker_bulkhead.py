"""The bulkhead on FakeClock: a bound on calls in flight, a bounded wait, a distinct rejection."""

from __future__ import annotations

import asyncio

import pytest

from hardened import BulkheadFull, ConfigError
from hardened.breaker import Bulkhead, BulkheadConfig
from hardened.testing import FakeClock


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_caller_past_the_bound_is_rejected_after_the_wait(fake_clock: FakeClock) -> None:
    """With 2 slots taken, a third caller waits 100 ms of clock time, then gets BulkheadFull."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=2), clock=fake_clock)
    await bulkhead.enter()
    await bulkhead.enter()
    third = asyncio.create_task(bulkhead.enter())
    await settle()
    assert not third.done()
    assert bulkhead.waiting == 1
    fake_clock.advance(0.1)
    with pytest.raises(BulkheadFull) as refused:
        await third
    assert refused.value.retry_after is not None
    assert (bulkhead.in_use, bulkhead.rejected_total, bulkhead.waiting) == (2, 1, 0)


async def test_a_freed_slot_goes_to_the_oldest_waiter(fake_clock: FakeClock) -> None:
    """A slot freed within the wait is handed to the first waiter, in order."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=1), clock=fake_clock)
    await bulkhead.enter()
    first = asyncio.create_task(bulkhead.enter())
    await settle()
    second = asyncio.create_task(bulkhead.enter())
    await settle()
    bulkhead.leave()
    await settle()
    assert first.done()
    assert not second.done()
    fake_clock.advance(0.1)
    with pytest.raises(BulkheadFull):
        await second
    assert bulkhead.in_use == 1


async def test_a_cancelled_waiter_takes_no_slot(fake_clock: FakeClock) -> None:
    """A waiter cancelled before a slot frees leaves the count as it was."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=1), clock=fake_clock)
    await bulkhead.enter()
    waiter = asyncio.create_task(bulkhead.enter())
    await settle()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    bulkhead.leave()
    assert (bulkhead.in_use, bulkhead.waiting) == (0, 0)
    assert bulkhead.try_enter()


async def test_no_wait_rejects_at_once() -> None:
    """With max_wait=0 a full bulkhead refuses without waiting at all."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=1, max_wait=0.0))
    await bulkhead.enter()
    with pytest.raises(BulkheadFull):
        await bulkhead.enter()


def test_unbounded_settings_are_refused() -> None:
    """No slots, or a wait over a second, is a ConfigError."""
    with pytest.raises(ConfigError):
        BulkheadConfig(max_concurrent=0)
    with pytest.raises(ConfigError):
        BulkheadConfig(max_wait=5.0)


async def test_try_enter_takes_only_a_free_slot() -> None:
    """With 2 slots, two callers get one each without waiting; the third is told no at once."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=2))
    assert bulkhead.try_enter()
    assert bulkhead.try_enter()
    assert not bulkhead.try_enter()
    assert bulkhead.in_use == 2
    bulkhead.leave()
    assert bulkhead.try_enter()
    assert bulkhead.in_use == 2


async def test_a_zero_wait_bulkhead_refuses_without_queueing() -> None:
    """With max_wait=0 the refusal comes on the caller's first step: it never joins the queue."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=1, max_wait=0.0))
    await bulkhead.enter()
    caller = asyncio.create_task(bulkhead.enter())
    await asyncio.sleep(0)
    assert caller.done()
    assert bulkhead.waiting == 0
    with pytest.raises(BulkheadFull):
        await caller


async def test_a_refusal_says_which_bulkhead_its_bound_and_wait(fake_clock: FakeClock) -> None:
    """BulkheadFull names the dependency, the bound and the wait, asks for a 1 s retry, and
    each refusal is counted."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=2), clock=fake_clock)
    await bulkhead.enter()
    await bulkhead.enter()
    for count in (1, 2):
        waiter = asyncio.create_task(bulkhead.enter())
        await settle()
        fake_clock.advance(0.1)
        with pytest.raises(BulkheadFull) as refused:
            await waiter
        assert bulkhead.rejected_total == count
    assert str(refused.value) == "the processor bulkhead has 2 calls in flight (waited 0.100 s)"
    assert refused.value.retry_after == 1.0


async def test_cancelling_one_waiter_hands_no_slot_to_another(fake_clock: FakeClock) -> None:
    """The second waiter cancelled: the first keeps waiting, no slot appears from nowhere."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=1), clock=fake_clock)
    await bulkhead.enter()
    first = asyncio.create_task(bulkhead.enter())
    await settle()
    second = asyncio.create_task(bulkhead.enter())
    await settle()
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    await settle()
    assert not first.done()
    assert (bulkhead.in_use, bulkhead.waiting) == (1, 1)
    bulkhead.leave()
    await first
    assert (bulkhead.in_use, bulkhead.waiting) == (1, 0)


async def test_a_slot_granted_as_its_waiter_is_cancelled_is_passed_on(
    fake_clock: FakeClock,
) -> None:
    """A slot handed to a waiter that is cancelled in the same instant is freed, not leaked."""
    bulkhead = Bulkhead("processor", BulkheadConfig(max_concurrent=1), clock=fake_clock)
    await bulkhead.enter()
    waiter = asyncio.create_task(bulkhead.enter())
    await settle()
    bulkhead.leave()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert (bulkhead.in_use, bulkhead.waiting) == (0, 0)
    assert bulkhead.try_enter()
