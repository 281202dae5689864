"""Who spent the budget decides the answer when it runs out: the client's 408 while the
application waits on a body that does not come, the service's 504 otherwise, and a caller's
504 of its own when it arrives with its budget spent. On virtual time: no wall-clock wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message

from hardened import Service, route_timeout
from tests._virtual_time import on_virtual_time

BUDGET = 2.0


@route_timeout(BUDGET)
async def upload(request: Request) -> Response:
    return PlainTextResponse(await request.body(), status_code=201)


@route_timeout(BUDGET)
async def slow(request: Request) -> Response:
    await request.body()
    await asyncio.sleep(5 * BUDGET)
    return PlainTextResponse("late", status_code=201)


@route_timeout(BUDGET)
async def poll(request: Request) -> Response:
    await request.receive()  # a long poll: waits for the client to leave
    return PlainTextResponse("gone")


def service() -> Service:
    routes = [
        Route("/upload", upload, methods=["POST"]),
        Route("/slow", slow, methods=["POST"]),
        Route("/poll", poll),
    ]
    return Service("answers", routes=routes, shed=None)


async def call(
    app: Service, method: str, path: str, headers: dict[str, str], *body: Message
) -> tuple[int, dict[bytes, bytes]]:
    """Status and headers of one request whose client sends `body` and then nothing more
    (it stays connected until the response is complete)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "server": ("t", 80),
        "client": ("127.0.0.1", 5000),
    }
    incoming, sent = list(body), []
    complete = asyncio.Event()

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        async with asyncio.timeout(10 * BUDGET):  # virtual: a request that can never end fails
            await complete.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            complete.set()

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start.get("headers", []))


@on_virtual_time
async def test_a_body_that_stops_arriving_is_the_clients_408() -> None:
    """Half a Content-Length body, or a chunked body that stalls: 408 and the connection
    closed, at the route's budget."""
    app = service()
    loop = asyncio.get_running_loop()
    half = {"type": "http.request", "body": b"12345", "more_body": True}
    began = loop.time()
    status, headers = await call(app, "POST", "/upload", {"content-length": "10"}, half)
    assert (status, headers.get(b"connection")) == (408, b"close")
    assert loop.time() - began == pytest.approx(BUDGET, abs=1e-6)
    chunked = {"transfer-encoding": "chunked"}
    status, headers = await call(app, "POST", "/upload", chunked, half)
    assert (status, headers.get(b"connection")) == (408, b"close")


@on_virtual_time
async def test_a_budget_spent_by_the_service_is_its_own_504() -> None:
    """A whole body then a slow handler, or a long poll without a body (its caller's budget
    longer than the route's): 504."""
    app = service()
    whole = {"type": "http.request", "body": b"0123456789"}
    assert (await call(app, "POST", "/slow", {"content-length": "10"}, whole))[0] == 504
    assert (await call(app, "GET", "/poll", {"x-request-timeout": "30"}))[0] == 504


@on_virtual_time
async def test_a_caller_arriving_with_its_budget_spent_is_refused_as_its_own() -> None:
    """X-Request-Timeout: 0 is a 504 before any work, recorded on the caller's route."""
    app = service()
    assert (await call(app, "GET", "/poll", {"x-request-timeout": "0"}))[0] == 504
    labels = {"method": "GET", "route": "__caller__", "status": "504"}
    assert app.metrics_registry.get_sample_value("http_server_requests_total", labels) == 1
