"""A service for the shutdown tests: slow, stubborn and streaming handlers, recording components.

Settings come from the environment so that one module serves every scenario:
`SHUTDOWN_DELAY`, `SHUTDOWN_DRAIN`, `SHUTDOWN_GRACE`, `SHUTDOWN_STEP`, `SHUTDOWN_TEARDOWN`,
`SHUTDOWN_EVENTS` (a file the components and workers append to), `SHUTDOWN_HANG` (a
component whose stop hangs).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from hardened import Service, component
from hardened.shed import ShedConfig
from hardened.shutdown import ShutdownConfig, ShutdownManager

EVENTS = Path(os.environ.get("SHUTDOWN_EVENTS", os.devnull))
STATS = {"entered": 0, "finished": 0}


def record(event: str) -> None:
    with EVENTS.open("a") as file:
        file.write(event + "\n")


async def slow(request: Request) -> Response:
    """Waits for the shutdown to begin (so it is surely in flight), then works 1.5 s more."""
    STATS["entered"] += 1
    manager = component(request, ShutdownManager)
    try:
        async with asyncio.timeout(30):
            await manager.wait_stopping()
    except TimeoutError:
        return PlainTextResponse("no shutdown came", status_code=500)
    await asyncio.sleep(float(request.query_params.get("s", "1.5")))
    STATS["finished"] += 1
    return PlainTextResponse("done")


async def held(request: Request) -> Response:
    """Waits until the test creates the `SHUTDOWN_RELEASE` file (works under stock uvicorn too)."""
    STATS["entered"] += 1
    release = Path(os.environ["SHUTDOWN_RELEASE"])
    deadline = time.monotonic() + 30
    # A file, not an event: the test's process releases it, and stock uvicorn runs this too.
    while time.monotonic() < deadline:
        if await asyncio.to_thread(release.exists):
            break
        await asyncio.sleep(0.02)
    return PlainTextResponse("released")


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


async def stats(request: Request) -> Response:
    return JSONResponse(STATS)


async def stubborn(request: Request) -> Response:
    """Ignores cancellation: only the watchdog can end it."""
    STATS["entered"] += 1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            record("stubborn ignored a cancellation")
    return PlainTextResponse("late")


async def block(request: Request) -> Response:
    """Blocks the event loop itself: no task, timeout or cancellation can end it."""
    record("blocking the loop")
    time.sleep(60)  # noqa: ASYNC251 - the bug this handler stands for
    return PlainTextResponse("unblocked")


async def ticker() -> AsyncIterator[str]:
    for n in range(600):
        yield f"data: tick {n}\n\n"
        await asyncio.sleep(0.05)


async def events(request: Request) -> Response:
    """SSE that ends with a retry hint once the drain begins."""
    STATS["entered"] += 1
    manager = component(request, ShutdownManager)
    stream = manager.stream(ticker(), final="retry: 1000\ndata: bye\n\n")
    return StreamingResponse(stream, media_type="text/event-stream")


async def socket(websocket: WebSocket) -> None:
    """Greets, then waits; records the close code the server's shutdown gives it."""
    await websocket.accept()
    await websocket.send_text("hello")
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as exc:
        record(f"websocket closed {exc.code}")


def _recording(name: str) -> object:
    async def factory() -> AsyncIterator[str]:
        record(f"start {name}")
        try:
            yield name
        finally:
            if name == os.environ.get("SHUTDOWN_HANG"):
                record(f"hang {name}")
                await asyncio.sleep(3600)
            record(f"stop {name}")

    return factory


class Database(str):
    pass


class Cache(str):
    pass


class Processor(str):
    pass


async def worker(stopping: asyncio.Event) -> None:
    """A queue consumer: takes jobs until told to stop, requeues the one it holds if cancelled."""
    job = 0
    while not stopping.is_set():
        job += 1
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            record(f"worker requeued job {job}")
            raise
    record(f"worker stopped pulling after job {job}")


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


service = Service(
    "shutdown-test",
    routes=[
        Route("/slow", slow),
        Route("/held", held),
        Route("/hello", hello),
        Route("/stats", stats),
        Route("/stubborn", stubborn),
        Route("/block", block),
        Route("/events", events),
        WebSocketRoute("/socket", socket),
    ],
    shutdown=ShutdownConfig(
        deregistration_delay=_seconds("SHUTDOWN_DELAY", 1.0),
        drain_timeout=_seconds("SHUTDOWN_DRAIN", 10.0),
        grace_period=_seconds("SHUTDOWN_GRACE", 30.0),
        teardown_step_timeout=_seconds("SHUTDOWN_STEP", 1.0),
        teardown_timeout=_seconds("SHUTDOWN_TEARDOWN", 3.0),
    ),
    # The drain tests hold 50 slow (sleeping) requests at once; the shedder's adaptive limit
    # starts at 20 and would rightly refuse the rest before it has learned the latency.
    shed=ShedConfig(initial_limit=200),
)
service.components.provide(Database)(_recording("database"))  # type: ignore[arg-type]
service.components.provide(Cache)(_recording("cache"))  # type: ignore[arg-type]
service.components.provide(Processor)(_recording("processor"))  # type: ignore[arg-type]
service.components.get(ShutdownManager).background(worker, name="queue-consumer")
app = service
