"""A small service with user routes, used by the integration tests."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import LoadShed, Service


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


async def shed(request: Request) -> Response:
    raise LoadShed("saturated", retry_after=2)


async def boom(request: Request) -> Response:
    raise RuntimeError("a bug")


async def echo_state(request: Request) -> Response:
    return JSONResponse({"service": request.scope["hardened.service"].name})


service = Service(
    "basic",
    routes=[
        Route("/hello", hello),
        Route("/shed", shed),
        Route("/boom", boom),
        Route("/whoami", echo_state),
    ],
)
app = service
not_a_service = object()
