"""A service with route priorities and no close budget: a refusal closes only for an unread body."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.shed import Priority, ShedConfig

released = asyncio.Event()


async def hold(request: Request) -> Response:
    """Stays in flight until /release (at most 60 s)."""
    released.clear()
    try:
        async with asyncio.timeout(60):
            await released.wait()
    except TimeoutError:
        return PlainTextResponse("never released", status_code=500)
    return PlainTextResponse("held")


async def release(request: Request) -> Response:
    released.set()
    return PlainTextResponse("released")


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Service(
    "shed-priorities",
    routes=[
        Route("/hold", hold),
        Route("/release", release),
        Route("/reports", ok, methods=["GET", "POST"]),
        Route("/payments", ok),
        Route("/work", ok, methods=["GET", "POST"]),
    ],
    shed=ShedConfig(
        close_per_second=0,
        exempt_paths=("/release",),
        route_priorities=(("/reports", Priority.SHEDDABLE), ("/payments", Priority.CRITICAL)),
    ),
)
