"""A service whose in-flight bound is fixed at 2: one held request makes sheddable traffic refused.

With `min_limit = initial_limit = max_limit = 2` and no warm-up, the shedder refuses sheddable
requests at 1 in flight, standard at 2 and critical at 4: holding one request open shows which
priority each request was given, by route and by header, deterministically.
"""

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
        initial_limit=2,
        min_limit=2,
        max_limit=2,
        warmup_samples=0,
        close_per_second=0,
        exempt_paths=("/release",),
        route_priorities=(("/reports", Priority.SHEDDABLE), ("/payments", Priority.CRITICAL)),
    ),
)
