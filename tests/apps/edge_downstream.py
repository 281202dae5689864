"""A downstream service that echoes the budget its caller handed it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.deadline import remaining


async def echo(request: Request) -> Response:
    return JSONResponse(
        {"x_request_timeout": request.headers.get("x-request-timeout"), "remaining": remaining()}
    )


app = Service("downstream", routes=[Route("/echo", echo)])
