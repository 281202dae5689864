"""The deadline stage on its own: sources counted, the shared queue emptied, faults it claims."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import DeadlineExceeded, Service
from hardened.clock import SYSTEM_CLOCK
from hardened.deadline import (
    Budget,
    DeadlineConfig,
    current_budget,
    deadline_scope,
    ensure_time_left,
)
from hardened.deadline._expiry import EXPIRED, LIVE, Expiry, ExpiryQueue
from hardened.deadline._stage import DeadlineStage, DeadlineStats, task_lookup
from hardened.stages import Exchange
from hardened.testing import FakeClock


async def _source(request: Request) -> Response:
    budget = current_budget()
    assert budget is not None
    return JSONResponse({"source": budget.source})


async def _sleepy(request: Request) -> Response:
    await asyncio.sleep(10)
    return JSONResponse({})


def _client(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://t")


async def test_every_request_is_counted_once_by_the_source_of_its_budget() -> None:
    """Two service, one route, one header budget and two late arrivals, counted exactly."""
    from tests.test_deadline_budget import quick

    service = Service("svc", routes=[Route("/b", _source), Route("/quick", quick)], shed=None)
    async with _client(service) as c:
        await c.get("/b")
        await c.get("/b")
        await c.get("/quick")
        await c.get("/b", headers={"X-Request-Timeout": "1"})
        late = await c.get("/b", headers={"X-Request-Timeout": "0"})
        await c.get("/b", headers={"X-Request-Timeout": "-1"})
    assert late.json()["detail"] == "the request arrived with its budget already spent"
    evidence = service.report()["gates"][1]["evidence"]
    assert evidence["requests_by_source"] == {"service": 2, "route": 1, "header": 1}
    assert evidence["refused_late"] == 2


async def test_a_header_equal_to_the_budget_leaves_its_source() -> None:
    """A caller budget equal to the service default does not shorten it: the source stays."""
    service = Service("svc", routes=[Route("/b", _source)], deadline=DeadlineConfig())
    async with _client(service) as c:
        equal = await c.get("/b", headers={"X-Request-Timeout": "10"})
    assert equal.json() == {"source": "service"}


async def test_headers_the_shedder_reads_do_not_reach_a_deadline_that_refuses_them() -> None:
    """accept_inbound=False with the shedder on: a caller's header does not set the budget."""
    service = Service(
        "svc", routes=[Route("/b", _source)], deadline=DeadlineConfig(accept_inbound=False)
    )
    async with _client(service) as c:
        answer = await c.get("/b", headers={"X-Request-Timeout": "1"})
    assert answer.json() == {"source": "service"}


async def test_service_budget_on_a_fake_clock_still_fires_in_real_time() -> None:
    """Under a FakeClock the shared queue still expires a 0.2 s budget after 0.2 s."""
    service = Service(
        "svc",
        routes=[Route("/sleepy", _sleepy)],
        clock=FakeClock(),
        deadline=DeadlineConfig(default_timeout=0.2),
    )
    loop = asyncio.get_running_loop()
    async with _client(service) as c:
        began = loop.time()
        answer = await c.get("/sleepy")
        elapsed = loop.time() - began
    assert answer.status_code == 504
    assert 0.2 <= elapsed < 0.2 + 0.25


async def _nothing(message: Any) -> None:
    return None


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request"}


def _stage(timeout: float = 5.0) -> DeadlineStage:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    config = DeadlineConfig(default_timeout=timeout)
    return DeadlineStage(config, SYSTEM_CLOCK, DeadlineStats(), app)


def _exchange(headers: dict[bytes, bytes] | None = None) -> Exchange:
    loop = asyncio.get_running_loop()
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    return Exchange(scope, _no_body, _nothing, headers or {}, loop.time(), loop)


async def test_finished_requests_leave_the_shared_queue_and_cancel_their_timers() -> None:
    """After enter and exit, nothing stays queued and no per-request timer stays armed."""
    stage = _stage()
    states = [stage.enter(_exchange()) for _ in range(3)]
    header = _exchange({b"x-request-timeout": b"2"})
    header_state = stage.enter(header)
    assert header_state.handle is not None
    assert len(stage._expiry) == 3
    assert all(state.state == LIVE for state in states)
    handle = header_state.handle
    stage.exit(header, header_state)
    for state in reversed(states):
        stage.exit(state.exchange, state)
    assert len(stage._expiry) == 0
    assert handle.cancelled()
    assert current_budget() is None


async def test_a_long_request_at_the_head_of_the_stage_queue_does_not_let_it_grow() -> None:
    """3,000 short requests behind one long one: the stage's own append path still compacts
    (the queue never holds more than the 1,024 entries that start a compaction), and every
    live entry is kept."""
    stage = _stage()
    head = stage.enter(_exchange())
    try:
        for _ in range(3_000):
            state = stage.enter(_exchange())
            stage.exit(state.exchange, state)
            assert len(stage._expiry) <= 1_024
        assert head.state == LIVE
        assert head in stage._expiry.queue
    finally:
        stage.exit(head.exchange, head)
    assert len(stage._expiry) == 0


async def test_requests_after_the_first_join_the_armed_queue_without_its_add() -> None:
    """The first request arms the queue's timer through `add`; the next 100 (one at a time, as
    on an idle connection) are appended by the stage itself, and each still leaves the queue."""

    class CountingQueue(ExpiryQueue):
        __slots__ = ("adds",)
        adds: int

        def add(self, loop: asyncio.AbstractEventLoop, exchange: Expiry) -> None:
            self.adds += 1
            super().add(loop, exchange)

    stage = _stage()
    queue = CountingQueue(5.0)
    queue.adds = 0
    stage._expiry = queue
    for _ in range(101):
        state = stage.enter(_exchange())
        assert queue.queue[-1] is state
        stage.exit(state.exchange, state)
        assert len(queue) == 0
    assert queue.adds == 1
    assert queue.timer is not None


async def test_the_stage_claims_only_cancellations_its_own_timer_caused() -> None:
    """A cancellation of a live request (the client left) or another error is not a 504."""
    stage = _stage()
    state = stage.enter(_exchange())
    try:
        assert stage.fault(state.exchange, state, asyncio.CancelledError()) is None
        state.state = EXPIRED
        assert stage.fault(state.exchange, state, RuntimeError("bug")) is None
        assert stage.stats.expired == 0
    finally:
        state.state = LIVE
        stage.exit(state.exchange, state)


async def test_task_lookup_takes_the_interpreter_table_and_agrees_with_the_public_api() -> None:
    """In a task the fast lookup is the task table's own getter; outside a task, the public one."""
    loop = asyncio.get_running_loop()
    lookup = task_lookup(loop)
    assert lookup is not asyncio.current_task
    assert lookup(loop) is asyncio.current_task(loop)
    seen: list[object] = []
    loop.call_soon(lambda: seen.append(task_lookup(loop)))
    await asyncio.sleep(0)
    assert seen == [asyncio.current_task], "no task running: the public function"


def test_a_budget_tells_the_time_left_on_its_own_clock(fake_clock: FakeClock) -> None:
    """`Budget.remaining()` is the deadline minus its clock's now, negative once spent."""
    budget = Budget(fake_clock.monotonic() + 2.0, "service", fake_clock)
    assert budget.remaining() == 2.0
    fake_clock.advance(3.0)
    assert budget.remaining() == -1.0


async def test_ensure_time_left_at_and_before_the_deadline(fake_clock: FakeClock) -> None:
    """Time left is returned as is; at zero it raises, naming the work."""
    async with deadline_scope(0.5, clock=fake_clock):
        assert ensure_time_left() == 0.5
        fake_clock.advance(0.5)
        with pytest.raises(DeadlineExceeded) as spent:
            ensure_time_left()
    assert str(spent.value) == "no time left for the work"
