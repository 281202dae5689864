"""The edge driver: gate stages run in one frame, in the fixed order; other layers keep a slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hardened import MIDDLEWARE_ORDER, ConfigError, DeadlineExceeded, Service, Stage
from hardened.deadline import DeadlineStage, caller_budget
from hardened.deadline._stage import task_lookup
from hardened.gates import Installer
from hardened.lifecycle import LifecycleConfig
from hardened.stack import EdgeDriver, build_stack
from hardened.stages import Exchange
from hardened.testing import FakeClock
from tests.bare import bare_service


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("ok")(scope, receive, send)


async def _raises(scope: Scope, receive: Receive, send: Send) -> None:
    raise DeadlineExceeded("no time left for the processor call")


class Marker:
    """A middleware layer: records that a request passed and what it wraps."""

    def __init__(self, slot: str, seen: list[str]) -> None:
        self.slot = slot
        self.seen = seen
        self.inner: ASGIApp | None = None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        self.inner = app

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            self.seen.append(self.slot)
            await app(scope, receive, send)

        return middleware


class ToyStage(Stage):
    """A stage of a gate that does not exist yet: counts requests, reads one header."""

    slot = "idempotency"
    headers = (b"x-toy",)

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def enter(self, exchange: Exchange) -> bytes | None:
        value = exchange.headers.get(b"x-toy")
        self.log.append(f"enter {value!r}")
        return value

    def exit(self, exchange: Exchange, state: Any) -> None:
        self.log.append(f"exit {exchange.status} {state!r}")


class Toy:
    """Its mechanism: installs the stage through the public install interface."""

    def __init__(self, log: list[str]) -> None:
        self.stage = ToyStage(log)

    def install(self, service: Installer) -> None:
        service.add_layer(self.stage)


def _client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _slots(driver: EdgeDriver) -> list[str]:
    return [stage.slot for stage in driver.stages]


def test_caller_budget_reads_both_headers_and_the_nearest_wins() -> None:
    """X-Request-Timeout (decimal) and grpc-timeout give the caller's budget, the nearest of
    several (repeated headers arrive joined by commas) wins, and junk is counted."""
    assert caller_budget({b"x-request-timeout": b"2.5"}) == (2.5, 0)
    assert caller_budget({b"x-request-timeout": b"0"}) == (0, 0)
    assert caller_budget({b"grpc-timeout": b"250m"}) == (0.25, 0)
    assert caller_budget({b"x-request-timeout": b"soon"}) == (None, 1)
    assert caller_budget({b"x-request-timeout": b"inf"}) == (None, 1)
    both = {b"x-request-timeout": b"3, x", b"grpc-timeout": b"1S"}
    assert caller_budget(both) == (1.0, 1)


def test_the_default_stack_is_one_driver_in_the_fixed_order_that_maps_errors() -> None:
    """A default Service runs its five stages and the error mapping in one frame."""
    service = Service("one", app=_ok, metrics_registry=CollectorRegistry())
    stack = service._build_stack()
    assert isinstance(stack, EdgeDriver)
    assert _slots(stack) == ["observe", "shed", "deadline", "lifecycle", "shutdown"]
    assert _slots(stack) == [slot for slot in MIDDLEWARE_ORDER if slot != "idempotency"]
    assert stack.app is _ok


def test_the_order_comes_from_middleware_order_not_from_installation() -> None:
    """Stages handed over in reverse still run outermost-first as MIDDLEWARE_ORDER says."""
    service = Service("one", app=_ok, metrics_registry=CollectorRegistry())
    reverse = {
        slot: service._layers[slot]
        for slot in reversed(MIDDLEWARE_ORDER)
        if slot in service._layers
    }
    stack = build_stack(_ok, reverse)
    assert isinstance(stack, EdgeDriver)
    assert _slots(stack) == ["observe", "shed", "deadline", "lifecycle", "shutdown"]


async def test_a_toy_stage_joins_the_driver_through_the_install_interface() -> None:
    """A new gate's stage is one class and one install call: it runs inside the same frame,
    reads its header from the one scan, and sees the status at exit."""
    log: list[str] = []
    service = Service("toy", app=_ok, metrics_registry=CollectorRegistry(), mechanisms=[Toy(log)])
    stack = service._build_stack()
    assert isinstance(stack, EdgeDriver)
    assert _slots(stack)[-1] == "idempotency"
    async with _client(service) as client:
        answer = await client.get("/", headers={"X-Toy": "a"})
    assert answer.status_code == 200
    assert log == ["enter b'a'", "exit 200 b'a'"]


async def test_the_driver_builds_the_exchange_as_its_constructor_does() -> None:
    """The frame fills the exchange's slots itself (no constructor frame per request): every
    slot is set, to what `Exchange(...)` sets it to from the same request."""
    seen: list[Exchange] = []

    class Capture(Stage):
        slot = "idempotency"
        headers = (b"x-toy", b"content-length")

        def enter(self, exchange: Exchange) -> None:
            seen.append(exchange)

    stack = build_stack(_ok, {"idempotency": Capture()})
    assert isinstance(stack, EdgeDriver)
    async with _client(stack) as client:
        await client.post("/", headers=[("X-Toy", "a"), ("X-Toy", "b")], content=b"x")
    built = seen[0]
    expected = Exchange(
        built.scope, built.receive, built.send, built.headers, built.started, built.loop
    )
    assert built.headers == {b"x-toy": b"a, b", b"content-length": b"1"}
    assert built.loop is asyncio.get_running_loop()
    for name in Exchange.__slots__:
        if name not in ("ended", "status"):  # read after the request, when they have moved on
            assert getattr(built, name) == getattr(expected, name), name
    assert built.status == 200
    assert built.ended >= built.started


def test_a_middleware_layer_splits_the_driver_and_keeps_its_slot() -> None:
    """A user's middleware in the deadline slot sits between two driver runs; the error
    mapping stays right above the application."""
    seen: list[str] = []
    service = Service("split", app=_ok, metrics_registry=CollectorRegistry(), deadline=None)
    marker = Marker("deadline", seen)
    service.add_layer(marker)
    outer = service._build_stack()
    assert isinstance(outer, EdgeDriver)
    assert _slots(outer) == ["observe", "shed"]
    inner = marker.inner
    assert isinstance(inner, EdgeDriver)
    assert _slots(inner) == ["lifecycle", "shutdown"]
    assert inner.app is _ok


async def test_errors_are_mapped_once_whether_driven_together_or_not() -> None:
    """A HardenedError from the handler becomes its problem+json answer, with the default
    stack and with a middleware between the driver and the application."""
    seen: list[str] = []
    together = Service("one", app=_raises, metrics_registry=CollectorRegistry())
    split = Service("split", app=_raises, metrics_registry=CollectorRegistry())
    split.add_layer(Marker("idempotency", seen))
    assert isinstance(split._build_stack(), EdgeDriver)
    for service in (together, split):
        async with _client(service) as client:
            answer = await client.get("/pay")
        assert answer.status_code == 504
        assert answer.headers["content-type"] == "application/problem+json"
        assert "processor" in answer.json()["detail"]
    assert seen == ["idempotency"]


async def test_a_body_over_the_limit_is_stopped_by_a_lone_lifecycle_stage() -> None:
    """The lifecycle stage alone still answers 413 and closes the connection."""
    service = bare_service("life", app=_echo_body, lifecycle=LifecycleConfig(max_body_bytes=1024))
    stack = service._build_stack()
    assert isinstance(stack, EdgeDriver)
    assert _slots(stack) == ["lifecycle"]
    async with _client(service) as client:
        answer = await client.post("/", content=_chunks(4096))
    assert answer.status_code == 413
    assert answer.headers["connection"] == "close"


async def test_the_task_lookup_finds_the_running_task() -> None:
    """The fast current-task lookup agrees with asyncio.current_task on this interpreter."""
    loop = asyncio.get_running_loop()
    lookup = task_lookup(loop)
    assert lookup(loop) is asyncio.current_task()

    async def other() -> bool:
        return lookup(loop) is asyncio.current_task()

    assert await asyncio.create_task(other())


async def _echo_body(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await PlainTextResponse(str(len(body)))(scope, receive, send)


async def _chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 512):
        yield b"x" * 512


def test_stages_on_two_clocks_are_refused() -> None:
    """Stages must time a request on one clock: ConfigError otherwise."""
    first = Service("one", app=_ok, metrics_registry=CollectorRegistry(), clock=FakeClock())
    second = Service("two", app=_ok, metrics_registry=CollectorRegistry(), clock=FakeClock())
    observe, deadline = first._layers["observe"], second._layers["deadline"]
    assert isinstance(observe, Stage)
    assert isinstance(deadline, DeadlineStage)
    with pytest.raises(ConfigError, match="one clock"):
        EdgeDriver(_ok, [observe, deadline], map_errors=True)
