"""A slow endpoint (1 s asleep) and a fast one, for the shutdown-under-load comparison.

`bare` is plain Starlette for stock uvicorn; `hardened` is `Service` with its default stack,
served by `hardened run`, told it runs under an orchestrator (as `KUBERNETES_SERVICE_HOST` would
tell it in a pod): the load balancer keeps sending new requests for a moment after SIGTERM, so
the default deregistration delay (5 s) applies. Both variants get the same traffic.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service, ShutdownConfig

SLOW_S = 1.0


async def slow(request: Request) -> Response:
    """A request that is still in flight when the signal comes."""
    await asyncio.sleep(SLOW_S)
    return PlainTextResponse("slow done")


async def fast(request: Request) -> Response:
    """The steady background traffic."""
    return PlainTextResponse("fast")


def _routes() -> list[Route]:
    return [Route("/slow", slow), Route("/fast", fast)]


bare = Starlette(routes=_routes())

hardened = Service("bench-shutdown", routes=_routes(), shutdown=ShutdownConfig(orchestrated=True))
