"""The fixed middleware order, whatever order the layers were given in."""

from __future__ import annotations

import random

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hardened import MIDDLEWARE_ORDER, ConfigError, Service, build_stack


class Recorder:
    """A layer that records its slot when a request passes through it."""

    def __init__(self, slot: str, seen: list[str]) -> None:
        self.slot = slot
        self.seen = seen

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            self.seen.append(self.slot)
            await app(scope, receive, send)

        return middleware


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("ok")(scope, receive, send)


async def test_build_stack_orders_layers_by_slot() -> None:
    """Layers given in a random order run observe → shed → deadline → lifecycle → idempotency."""
    seen: list[str] = []
    slots = list(MIDDLEWARE_ORDER)
    random.Random(7).shuffle(slots)
    app = build_stack(_ok, {slot: Recorder(slot, seen) for slot in slots})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/")).text == "ok"
    assert seen == list(MIDDLEWARE_ORDER)


async def test_service_fills_slots_in_the_fixed_order() -> None:
    """Service.add_layer in reverse order still yields the documented order; probes bypass it."""
    seen: list[str] = []
    service = Service("svc", app=_ok, lifecycle=None, deadline=None)
    for slot in reversed(MIDDLEWARE_ORDER):
        service.add_layer(Recorder(slot, seen))
    assert list(service.layers()) == list(MIDDLEWARE_ORDER)
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/anything")).text == "ok"
        assert (await client.get("/livez")).status_code == 200
    assert seen == list(MIDDLEWARE_ORDER)


def test_a_slot_holds_one_layer_and_unknown_slots_are_refused() -> None:
    """Two layers for one slot, or a slot outside the order, is a configuration error."""
    service = Service("svc")
    service.add_layer(Recorder("shed", []))
    with pytest.raises(ConfigError, match="already filled"):
        service.add_layer(Recorder("shed", []))
    with pytest.raises(ConfigError, match="unknown slot"):
        service.add_layer(Recorder("auth", []))
    with pytest.raises(ConfigError, match="unknown middleware slots"):
        build_stack(_ok, {"auth": Recorder("auth", [])})


async def test_layers_cannot_change_once_serving() -> None:
    """The stack is built once; adding a layer afterwards is refused, not silently ignored."""
    service = Service("svc", app=_ok)
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/x")
    with pytest.raises(ConfigError, match="before the service serves"):
        service.add_layer(Recorder("shed", []))
