"""An upstream service that calls the downstream through a registered, deadline-aware client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service, component
from hardened.deadline import httpx_deadline_hook


class Downstream:
    """The downstream's client, registered on the Service."""

    deadline_usage = "sends X-Request-Timeout; httpx timeouts capped by remaining()"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client


async def call(request: Request) -> Response:
    downstream = component(request, Downstream)
    answer = await downstream.client.get("/echo")
    return JSONResponse(answer.json())


app = Service("upstream", routes=[Route("/call", call)])


@app.components.provide(Downstream)
async def downstream_client() -> AsyncIterator[Downstream]:
    hooks = {"request": [httpx_deadline_hook]}
    url = os.environ["DOWNSTREAM_URL"]
    async with httpx.AsyncClient(base_url=url, event_hooks=hooks, timeout=5.0) as client:
        yield Downstream(client)
