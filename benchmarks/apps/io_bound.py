"""Requests that await a slow upstream (no CPU) beside fast ones: the I/O-bound comparison.

`bare` is plain Starlette (stock uvicorn, with and without `--limit-concurrency`); `hardened`
is `Service` with its default stack; `hardened_adaptive` adds the opt-in adaptive limit.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.shed import ShedConfig


async def slow(request: Request) -> Response:
    """Awaits `s` seconds, as a handler awaiting a slow dependency does."""
    await asyncio.sleep(float(request.query_params.get("s", "3")))
    return PlainTextResponse("slow")


async def fast(request: Request) -> Response:
    return PlainTextResponse("fast")


def _routes() -> list[Route]:
    return [Route("/slow", slow), Route("/fast", fast)]


bare = Starlette(routes=_routes())

hardened = Service("bench-io-bound", routes=_routes())

# The opt-in Gradient2 in-flight limit, applied only while the queue delay is over target.
hardened_adaptive = Service(
    "bench-io-bound-adaptive", routes=_routes(), shed=ShedConfig(adaptive_limit=True)
)
