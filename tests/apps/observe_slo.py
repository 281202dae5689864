"""A service with an availability and a latency SLO: the rules and promtool tests."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.observe import SLO


async def pay(request: Request) -> Response:
    return PlainTextResponse("paid")


def build(*, clock: Clock = SYSTEM_CLOCK) -> Service:
    """A fresh service on `clock` (the synthetic-stream test drives it with fake time)."""
    return Service(
        "observe-slo",
        routes=[Route("/pay", pay)],
        clock=clock,
        slos=[
            SLO(name="availability", objective=0.999),
            SLO(name="latency", objective=0.99, latency=0.3),
        ],
    )


app = build()
