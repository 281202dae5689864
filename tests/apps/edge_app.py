"""A service with tight edge limits, for the lifecycle integration tests."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from hardened import Service
from hardened.deadline import DeadlineConfig, remaining
from hardened.lifecycle import LifecycleConfig, body_limit

started: list[str] = []


async def upload(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"received": len(body)})


@body_limit(64 * 1024)
async def big_upload(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"received": len(body)})


async def slow(request: Request) -> Response:
    started.append(request.url.path)
    await asyncio.sleep(float(request.query_params.get("s", "1.5")))
    return JSONResponse({"slept": True, "budget_left": remaining()})


async def read_late(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "2")))
    body = await request.body()
    return JSONResponse({"received": len(body)})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text.upper())


async def counts(request: Request) -> Response:
    return JSONResponse({"slow_started": len(started)})


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


service = Service(
    "edge",
    routes=[
        Route("/upload", upload, methods=["POST"]),
        Route("/big", big_upload, methods=["POST"]),
        Route("/slow", slow),
        Route("/read-late", read_late, methods=["POST"]),
        Route("/counts", counts),
        Route("/hello", hello),
        WebSocketRoute("/echo", echo),
    ],
    lifecycle=LifecycleConfig(
        max_body_bytes=1024,
        max_in_flight=2,
        retry_after=3.0,
        header_timeout=1.0,
        body_timeout=1.0,
        linger_timeout=2.0,
    ),
    deadline=DeadlineConfig(default_timeout=5.0),
)
app = service
