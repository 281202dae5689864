"""A dependency with fault knobs: `POST /faults` sets the status, latency or a hang of `/work`
(a hang lasts until it is switched off)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service

FAULTS: dict[str, Any] = {"status": 200, "latency_s": 0.0, "hang": False}
COUNTS = {"work": 0, "in_flight": 0, "max_in_flight": 0}
RECOVERED = asyncio.Event()  # a hanging request waits for it: set when the hang is switched off
RECOVERED.set()


async def work(request: Request) -> Response:
    COUNTS["work"] += 1
    COUNTS["in_flight"] += 1
    COUNTS["max_in_flight"] = max(COUNTS["max_in_flight"], COUNTS["in_flight"])
    try:
        if FAULTS["hang"]:
            await RECOVERED.wait()
        if FAULTS["latency_s"]:
            await asyncio.sleep(FAULTS["latency_s"])
        budget = request.headers.get("x-request-timeout", "")
        return PlainTextResponse(budget, status_code=FAULTS["status"])
    finally:
        COUNTS["in_flight"] -= 1


async def fast(request: Request) -> Response:
    return PlainTextResponse("fast")


async def faults(request: Request) -> Response:
    FAULTS.update(await request.json())
    if FAULTS["hang"]:
        RECOVERED.clear()
    else:
        RECOVERED.set()  # the hanging requests end, as when the dependency comes back
    COUNTS["max_in_flight"] = COUNTS["in_flight"]
    return JSONResponse(FAULTS)


async def counts(request: Request) -> Response:
    return JSONResponse(COUNTS)


app = Service(
    "flaky",
    routes=[
        Route("/work", work, methods=["GET", "POST"]),
        Route("/fast", fast),
        Route("/faults", faults, methods=["POST"]),
        Route("/counts", counts),
    ],
)
