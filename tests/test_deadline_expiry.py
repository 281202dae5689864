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
