"""offload(): sync work on a bounded pool, within the request's budget, off the loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from hardened import DeadlineExceeded
from hardened.deadline import deadline_scope
from hardened.loop import Offloader, offload, strict_loop

request_budget: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "request_budget", default=None
)


def budget_left() -> float | None:
    """A request deadline source: seconds left, read from a ContextVar."""
    return request_budget.get()


class Concurrency:
    """Counts how many calls run at once on the pool's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def work(self, seconds: float) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(seconds)
        with self.lock:
            self.now -= 1
        return threading.current_thread().name


async def test_offload_runs_on_a_pool_thread_with_the_callers_context() -> None:
    """The function runs on a named pool thread and sees the caller's ContextVars."""
    request_budget.set(7.0)
    async with Offloader(max_workers=2).running():
        name = await offload(lambda: threading.current_thread().name)
        seen = await offload(request_budget.get)
    assert name.startswith("hardened-offload")
    assert seen == 7.0


async def test_the_pool_never_runs_more_than_its_workers() -> None:
    """Six concurrent calls on a two-thread pool: all finish, never more than two at once."""
    counter = Concurrency()
    async with Offloader(max_workers=2).running() as pool:
        names = await asyncio.gather(*(offload(counter.work, 0.05) for _ in range(6)))
        assert pool.busy == 0
    assert counter.peak == 2
    assert len(names) == 6


async def test_timeout_answers_deadline_exceeded_and_keeps_the_slot_until_the_work_ends() -> None:
    """Past `timeout`: DeadlineExceeded; the thread keeps its slot until the work returns."""
    async with Offloader(max_workers=1).running() as pool:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"did not finish within 0\.1s"):
            await offload(time.sleep, 0.4, timeout=0.1)
        assert time.monotonic() - started < 0.35
        assert pool.abandoned == 1
        assert pool.busy == 1  # the abandoned sleep still holds the only thread
        with pytest.raises(DeadlineExceeded, match="no offload thread"):
            await offload(time.sleep, 0.0, timeout=0.05)
        for _ in range(100):
            if pool.busy == 0:
                break
            await asyncio.sleep(0.01)
        assert pool.busy == 0
        assert await offload(lambda: "free again", timeout=1.0) == "free again"
    assert pool.abandoned == 1


async def test_the_request_deadline_caps_the_timeout() -> None:
    """With 0.1 s left in the request, a 5 s timeout still ends at the deadline."""
    pool = Offloader(max_workers=1, remaining=budget_left)
    async with pool.running():
        request_budget.set(0.1)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await pool.run(time.sleep, 0.4, timeout=5.0)
        assert time.monotonic() - started < 0.35
        assert pool.budget(5.0) == 0.1
        assert pool.budget(None) == 0.1
        request_budget.set(None)
        assert pool.budget(5.0) == 5.0


async def test_offload_reads_the_request_budget_of_hardened_deadline() -> None:
    """Inside a deadline scope of 0.1 s, the default Offloader stops waiting at the deadline."""
    pool = Offloader(max_workers=1)
    async with pool.running():
        started = time.monotonic()
        # Whichever ends first (the scope or the capped wait), the caller sees DeadlineExceeded.
        with pytest.raises(DeadlineExceeded):  # noqa: PT012
            async with deadline_scope(0.1):
                left = pool.budget(5.0)
                assert left is not None
                assert left <= 0.1
                await pool.run(time.sleep, 0.4, timeout=5.0)
        assert time.monotonic() - started < 0.35
        assert pool.budget(5.0) == 5.0


async def test_a_spent_deadline_refuses_before_running() -> None:
    """No time left: DeadlineExceeded at once, the function never runs."""
    calls: list[int] = []
    pool = Offloader(max_workers=1, remaining=budget_left)
    async with pool.running():
        request_budget.set(0.0)
        with pytest.raises(DeadlineExceeded, match="no time left"):
            await pool.run(calls.append, 1)
    assert calls == []


async def test_exceptions_from_the_function_propagate() -> None:
    """An error raised on the pool thread reaches the caller unchanged."""

    def broken() -> None:
        raise ValueError("bad input")

    async with Offloader().running():
        with pytest.raises(ValueError, match="bad input"):
            await offload(broken)


async def test_offload_needs_a_running_pool() -> None:
    """Outside a service (or after its pool stopped) offload() says so instead of guessing."""
    with pytest.raises(LookupError, match="no offload pool"):
        await offload(time.sleep, 0)
    async with Offloader().running():
        await offload(time.sleep, 0)
    with pytest.raises(LookupError):
        await offload(time.sleep, 0)


async def test_offloaded_blocking_work_does_not_block_the_loop() -> None:
    """The same 200 ms sleep that would block the loop passes strict mode once offloaded."""
    async with Offloader().running(), strict_loop(threshold=0.15):
        await offload(time.sleep, 0.2)


async def test_a_cancelled_caller_leaves_the_work_counted_as_abandoned() -> None:
    """A caller cancelled mid-call (client gone): counted abandoned, slot freed when work ends."""
    async with Offloader(max_workers=1).running() as pool:
        caller = asyncio.create_task(offload(time.sleep, 0.2))
        await asyncio.sleep(0.05)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert pool.abandoned == 1
        assert await offload(lambda: "after", timeout=2.0) == "after"
        assert pool.busy == 0
