"""A service calling two dependencies through their transports: `flaky`, and `steady`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service, ShedConfig, component
from hardened.breaker import BreakerConfig, BulkheadConfig
from hardened.outbound import Dependency, DependencyConfig
from hardened.retry import RetryConfig

flaky = Dependency(
    "flaky",
    DependencyConfig(
        attempt_timeout=0.5,
        total_timeout=3.0,
        breaker=BreakerConfig(window=2.0, min_calls=10, open_for=1.0, probes=2),
        bulkhead=BulkheadConfig(max_concurrent=4, max_wait=0.05),
        retry=RetryConfig(max_delay=0.5, retry_after_cap=0.5),
    ),
)
steady = Dependency("steady")


class Upstreams:
    """The two clients, registered on the Service."""

    deadline_usage = "through Dependency transports"

    def __init__(self, flaky: httpx.AsyncClient, steady: httpx.AsyncClient) -> None:
        self.flaky = flaky
        self.steady = steady


async def call_flaky(request: Request) -> Response:
    method = request.query_params.get("method", "GET")
    try:
        answer = await component(request, Upstreams).flaky.request(method, "/work")
    except httpx.TimeoutException as exc:
        return PlainTextResponse(str(exc), status_code=504)
    return JSONResponse({"upstream": answer.status_code}, status_code=answer.status_code)


async def call_steady(request: Request) -> Response:
    answer = await component(request, Upstreams).steady.get("/fast")
    return PlainTextResponse(answer.text, status_code=answer.status_code)


async def local(request: Request) -> Response:
    return PlainTextResponse("local")


async def reset(request: Request) -> Response:
    flaky.breaker.reset()
    return PlainTextResponse(flaky.breaker.state.value)


app = Service(
    "caller",
    routes=[
        Route("/flaky", call_flaky),
        Route("/steady", call_steady),
        Route("/local", local),
        Route("/breaker/reset", reset, methods=["POST"]),
    ],
    mechanisms=[flaky, steady],
    # The storm test measures the bulkhead alone: the edge's adaptive in-flight limit starts
    # at 20 and would refuse the 40 concurrent calls before any of them reached a dependency.
    shed=ShedConfig(initial_limit=200, min_limit=200),
)


@app.components.provide(Upstreams)
async def upstreams() -> AsyncIterator[Upstreams]:
    url = os.environ["FLAKY_URL"]
    async with (
        httpx.AsyncClient(base_url=url, transport=flaky.transport()) as one,
        httpx.AsyncClient(base_url=url, transport=steady.transport()) as two,
    ):
        yield Upstreams(one, two)
