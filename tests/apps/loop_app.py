"""A service whose handlers block the loop, nap on it, or offload; for the loop gate's tests."""

from __future__ import annotations

import asyncio
import threading
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.loop import offload


async def block(request: Request) -> Response:
    time.sleep(0.2)  # noqa: ASYNC251 - the blocking call the loop gate must name
    return PlainTextResponse("blocked")


async def nap(request: Request) -> Response:
    await asyncio.sleep(0.3)
    return PlainTextResponse("napped")


def sleep_then_name_thread(seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name


async def offloaded(request: Request) -> Response:
    thread = await offload(sleep_then_name_thread, 0.2)
    return JSONResponse({"thread": thread, "loop_thread": threading.current_thread().name})


async def offload_too_long(request: Request) -> Response:
    await offload(time.sleep, 1.0, timeout=0.1)
    return PlainTextResponse("unreachable")


service = Service(
    "loop-app",
    routes=[
        Route("/block", block),
        Route("/nap", nap),
        Route("/offload", offloaded),
        Route("/offload-too-long", offload_too_long),
    ],
)
app = service
