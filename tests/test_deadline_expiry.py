"""The shared expiry queue of the service budget: order, exemptions, bounded length."""

from __future__ import annotations

import asyncio
from typing import Any

from hardened.deadline._expiry import EXPIRED, FINISHED, ExpiryQueue
from hardened.stack import ResponseStatus


async def _nothing(message: Any) -> None:
    return None


async def test_live_requests_expire_and_finished_or_started_ones_do_not() -> None:
    """Past the timeout, live tasks are cancelled; finished ones and started responses are not."""
    loop = asyncio.get_running_loop()
    queue = ExpiryQueue(0.05)
    tasks = [asyncio.create_task(asyncio.sleep(5)) for _ in range(4)]
    responses = [ResponseStatus(_nothing) for _ in tasks]
    entries = [
        queue.add(loop, task, response) for task, response in zip(tasks, responses, strict=True)
    ]
    queue.finish(entries[1])  # ended in time
    responses[2].status = 200  # answer already started: the status is out
    await asyncio.wait([tasks[0], tasks[3]], timeout=2)
    assert tasks[0].cancelled()
    assert tasks[3].cancelled()
    assert [entry[3] for entry in entries] == [EXPIRED, FINISHED, FINISHED, EXPIRED]
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
    head = queue.add(loop, current, ResponseStatus(_nothing))
    for _ in range(10_000):
        queue.finish(queue.add(loop, current, ResponseStatus(_nothing)))
    assert len(queue) <= 1025
    queue.finish(head)
    assert len(queue) == 0
