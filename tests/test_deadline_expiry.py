"""The shared expiry queue of the service budget: order, exemptions, bounded length."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hardened.deadline._expiry import EXPIRED, FINISHED, Expiry, ExpiryQueue
from hardened.stages import Exchange


async def _nothing(message: Any) -> None:
    return None


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request"}


class _Entry(Expiry):
    """An expiry entry whose response status a test can set."""

    __slots__ = ()

    @property
    def status(self) -> int:
        return self.exchange.status

    @status.setter
    def status(self, value: int) -> None:
        self.exchange.status = value


def _exchange(task: asyncio.Task[Any], timeout: float) -> _Entry:
    loop = asyncio.get_running_loop()
    exchange = Exchange({"type": "http"}, _no_body, _nothing, {}, 0.0, loop)
    return _Entry(exchange, task, time.monotonic() + timeout)


async def test_live_requests_expire_and_finished_or_started_ones_do_not() -> None:
    """Past the timeout, live tasks are cancelled; finished ones and started responses are not."""
    loop = asyncio.get_running_loop()
    queue = ExpiryQueue(0.05)
    tasks = [asyncio.create_task(asyncio.sleep(5)) for _ in range(4)]
    entries = [_exchange(task, queue.timeout) for task in tasks]
    for entry in entries:
        queue.add(loop, entry)
    began = time.monotonic()
    queue.finish(entries[1])  # ended in time
    entries[2].status = 200  # answer already started: the status is out
    await asyncio.wait([tasks[0], tasks[3]], timeout=2)
    assert time.monotonic() - began < queue.timeout + 0.25
    assert tasks[0].cancelled()
    assert tasks[3].cancelled()
    assert [entry.state for entry in entries] == [EXPIRED, FINISHED, FINISHED, EXPIRED]
    assert not tasks[1].done()
    assert not tasks[2].done()
    assert len(queue) == 0
    for task in tasks[1:3]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_long_request_at_the_head_does_not_let_the_queue_grow() -> None:
    """10,000 short requests behind one long one: the queue compacts to the live entries."""
    loop = asyncio.get_running_loop()
    queue = ExpiryQueue(60.0)
    current = asyncio.current_task()
    assert current is not None
    head = _exchange(current, 60.0)
    queue.add(loop, head)
    for _ in range(10_000):
        entry = _exchange(current, 60.0)
        queue.add(loop, entry)
        queue.finish(entry)
    assert len(queue) <= 1025
    queue.finish(head)
    assert len(queue) == 0


async def test_requests_after_the_queue_emptied_and_later_deadlines_still_expire() -> None:
    """The timer re-arms: for a later entry behind an expired one, and after the queue emptied."""
    loop = asyncio.get_running_loop()
    queue = ExpiryQueue(0.05)
    first, second = (asyncio.create_task(asyncio.sleep(5)) for _ in range(2))
    queue.add(loop, _exchange(first, 0.05))
    queue.add(loop, _exchange(second, 0.15))
    began = time.monotonic()
    await asyncio.wait([first], timeout=2)
    assert first.cancelled()
    assert not second.done(), "not before its own deadline"
    await asyncio.wait([second], timeout=2)
    assert second.cancelled()
    assert 0.15 <= time.monotonic() - began < 0.15 + 0.25
    assert len(queue) == 0
    third = asyncio.create_task(asyncio.sleep(5))
    queue.add(loop, _exchange(third, 0.05))
    await asyncio.wait([third], timeout=2)
    assert third.cancelled(), "a request added to an emptied queue still expires"


async def test_compaction_starts_past_1024_entries_and_keeps_the_live_ones() -> None:
    """1024 entries stay as they are; the 1025th compacts the queue to its live entries."""
    loop = asyncio.get_running_loop()
    queue = ExpiryQueue(60.0)
    current = asyncio.current_task()
    assert current is not None
    head = _exchange(current, 60.0)
    queue.add(loop, head)
    for _ in range(1023):
        entry = _exchange(current, 60.0)
        queue.add(loop, entry)
        queue.finish(entry)
    assert len(queue) == 1024, "no compaction at the threshold itself"
    live = _exchange(current, 60.0)
    queue.add(loop, live)
    assert len(queue) == 2, "compacted to the head and the live entry"
    queue.finish(head)
    assert len(queue) == 1
    queue.finish(live)
    assert len(queue) == 0


async def test_compaction_threshold_doubles_the_live_entries() -> None:
    """With 1,000 live entries the next compaction waits for 2,000: finished ones wait till then."""
    loop = asyncio.get_running_loop()
    queue = ExpiryQueue(60.0)
    current = asyncio.current_task()
    assert current is not None
    live = [_exchange(current, 60.0) for _ in range(1000)]
    for entry in live:
        queue.add(loop, entry)

    def add_finished(count: int) -> None:
        for _ in range(count):
            entry = _exchange(current, 60.0)
            queue.finish(entry)  # ended before it is queued: only compaction removes it
            queue.add(loop, entry)

    add_finished(25)  # 1,025 entries: compacted to the 1,000 live ones
    assert len(queue) == 1000
    add_finished(1000)
    assert len(queue) == 2000, "at twice the live entries: not compacted yet"
    add_finished(1)
    assert len(queue) == 1000
    for entry in live:
        queue.finish(entry)
    assert len(queue) == 0
