"""The fused edge: default layers run as one coroutine; other layers keep their place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hardened import ConfigError, DeadlineExceeded, Service
from hardened._edge import FusedEdge, _caller_budget, _task_lookup
from hardened.lifecycle import LifecycleConfig
from hardened.shed import ShedConfig, Shedder
from hardened.testing import FakeClock
from tests.bare import bare_service


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("ok")(scope, receive, send)


async def _raises(scope: Scope, receive: Receive, send: Send) -> None:
    raise DeadlineExceeded("no time left for the processor call")


class Marker:
    """A non-default layer: records that a request passed and what wraps what."""

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


def _client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _stages(edge: FusedEdge) -> list[str]:
    parts = {
        "observe": edge._red,
        "shed": edge._shed,
        "deadline": edge._deadline,
        "lifecycle": edge._lifecycle,
    }
    return [slot for slot, stage in parts.items() if stage is not None]


def test_caller_budget_reads_both_headers_and_the_nearest_wins() -> None:
    """X-Request-Timeout (decimal) and grpc-timeout give the caller's budget, the nearest of
    several wins, and junk gives none but is counted."""
    shedder = Shedder(ShedConfig(), Counter("r", "", ["reason", "priority"], registry=None))
    wanted = FusedEdge(_ok, shed=shedder)._wanted
    timeout, grpc = wanted[b"x-request-timeout"], wanted[b"grpc-timeout"]
    assert _caller_budget([(timeout, b"2.5")]) == (2.5, 0)
    assert _caller_budget([(timeout, b"0")]) == (0, 0)
    assert _caller_budget([(grpc, b"250m")]) == (0.25, 0)
    assert _caller_budget([(timeout, b"soon")]) == (None, 1)
    assert _caller_budget([(timeout, b"inf")]) == (None, 1)
    assert _caller_budget([(timeout, b"3"), (grpc, b"1S"), (timeout, b"x")]) == (1.0, 1)


def test_the_default_stack_is_one_fused_edge_that_maps_errors() -> None:
    """A default Service runs its four outer slots and the error mapping in one coroutine."""
    service = Service("fused", app=_ok, metrics_registry=CollectorRegistry())
    stack = service._build_stack()
    assert isinstance(stack, FusedEdge)
    assert _stages(stack) == ["observe", "shed", "deadline", "lifecycle"]
    assert stack._map_errors
    assert stack.app is _ok


def test_a_custom_layer_splits_the_edge_and_keeps_its_slot() -> None:
    """A user's layer in the deadline slot sits between two fused runs; the error mapping
    stays right above the application."""
    seen: list[str] = []
    service = Service("split", app=_ok, metrics_registry=CollectorRegistry(), deadline=None)
    marker = Marker("deadline", seen)
    service.add_layer(marker)
    outer = service._build_stack()
    assert isinstance(outer, FusedEdge)
    assert _stages(outer) == ["observe", "shed"]
    assert not outer._map_errors
    inner = marker.inner
    assert isinstance(inner, FusedEdge)
    assert _stages(inner) == ["lifecycle"]
    assert inner._map_errors
    assert inner.app is _ok


async def test_errors_are_mapped_once_whether_fused_or_not() -> None:
    """A HardenedError from the handler becomes its problem+json answer, with the default
    edge and with a custom layer between the edge and the application."""
    seen: list[str] = []
    fused = Service("fused", app=_raises, metrics_registry=CollectorRegistry())
    split = Service("split", app=_raises, metrics_registry=CollectorRegistry())
    split.add_layer(Marker("idempotency", seen))
    assert isinstance(split._build_stack(), FusedEdge)
    for service in (fused, split):
        async with _client(service) as client:
            answer = await client.get("/pay")
        assert answer.status_code == 504
        assert answer.headers["content-type"] == "application/problem+json"
        assert "processor" in answer.json()["detail"]
    assert seen == ["idempotency"]


async def test_a_body_over_the_limit_is_stopped_by_a_lone_lifecycle_stage() -> None:
    """The lifecycle stage alone (no error mapping fused) still answers 413 and closes."""
    service = bare_service("life", app=_echo_body, lifecycle=LifecycleConfig(max_body_bytes=1024))
    stack = service._build_stack()
    assert isinstance(stack, FusedEdge)
    assert _stages(stack) == ["lifecycle"]
    async with _client(service) as client:
        answer = await client.post("/", content=_chunks(4096))
    assert answer.status_code == 413
    assert answer.headers["connection"] == "close"


async def test_the_task_lookup_finds_the_running_task() -> None:
    """The fast current-task lookup agrees with asyncio.current_task on this interpreter."""
    loop = asyncio.get_running_loop()
    lookup = _task_lookup(loop)
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
    """Observe and deadline stages must time a request on one clock: ConfigError otherwise."""
    first = Service("one", app=_ok, metrics_registry=CollectorRegistry(), clock=FakeClock())
    second = Service("two", app=_ok, metrics_registry=CollectorRegistry(), clock=FakeClock())
    with pytest.raises(ConfigError, match="one clock"):
        FusedEdge(_ok, observe=first._layers["observe"], deadline=second._layers["deadline"])  # type: ignore[arg-type]
