"""A service on the default stack with I/O-bound and CPU-bound routes: the overload tests."""

from __future__ import annotations

import asyncio
import os
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.shed import ShedConfig

SECRET = "gateway-secret-0123456789"


async def slow(request: Request) -> Response:
    """Awaits `s` seconds (an upstream that answers slowly): no CPU."""
    await asyncio.sleep(float(request.query_params.get("s", "3")))
    return PlainTextResponse("slow")


async def fast(request: Request) -> Response:
    return PlainTextResponse("fast")


hits = {"count": 0}


async def count(request: Request) -> Response:
    """Counts the requests it served (`/count`) or says how many (`/count?read=1`)."""
    if not request.query_params.get("read"):
        hits["count"] += 1
    return PlainTextResponse(str(hits["count"]))


async def cpu(request: Request) -> Response:
    """Holds the event loop for `ms` milliseconds of CPU (default 20)."""
    end = time.perf_counter() + float(request.query_params.get("ms", "20")) / 1000
    while time.perf_counter() < end:
        pass
    return PlainTextResponse("cpu")


_trusted = os.environ.get("SHED_TRUSTED_NETWORKS", "")
service = Service(
    "shed-overload",
    routes=[Route("/slow", slow), Route("/fast", fast), Route("/cpu", cpu), Route("/count", count)],
    shed=ShedConfig(
        trusted_networks=tuple(n for n in _trusted.split(",") if n),
        trusted_secret_header="x-gateway-secret",
        trusted_secret=SECRET,
    ),
)
app = service
