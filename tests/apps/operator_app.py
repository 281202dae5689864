"""A service for the operator tests: a JSON route, a logging route, a component that can hang."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service

logger = logging.getLogger("tests.operator")


class Slow:
    """A component whose start takes `OPERATOR_START_SECONDS` (default: none)."""


async def echo(request: Request) -> Response:
    """Echo the JSON body; a malformed body is the client's fault."""
    return JSONResponse({"got": await request.json()})


async def noisy(request: Request) -> Response:
    """Log one line from inside the request."""
    logger.info("inside the request")
    return JSONResponse({"ok": True})


async def where(request: Request) -> Response:
    """The client address and root path this request was served with."""
    client = request.client.host if request.client else None
    return JSONResponse({"client": client, "root_path": request.scope.get("root_path", "")})


async def slow_component() -> AsyncIterator[Slow]:
    await asyncio.sleep(float(os.environ.get("OPERATOR_START_SECONDS", "0")))
    yield Slow()


def build() -> Service:
    """The service, its start timeout taken from `OPERATOR_START_TIMEOUT` when set."""
    service = Service(
        "operator",
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/orders/{order_id:int}", noisy),
            Route("/where", where),
        ],
    )
    timeout = os.environ.get("OPERATOR_START_TIMEOUT")
    service.components.provide(
        Slow, start_timeout=float(timeout) if timeout else None, deadline="none"
    )(slow_component)
    return service


app = build()
holder = type("Holder", (), {"service": app})  # for MODULE:ATTR with a dotted attribute


@asynccontextmanager
async def _hanging_lifespan(app: Starlette) -> AsyncIterator[None]:
    await asyncio.sleep(3600)  # an application whose own start-up never ends
    yield


wrapped = Service("operator-wrapped", app=Starlette(lifespan=_hanging_lifespan))
