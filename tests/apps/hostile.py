"""A service on the default edge settings with an SLO, for the adversarial tests."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.observe import SLO


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


async def upload(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"received": len(body)})


app = Service(
    "hostile",
    routes=[Route("/hello", hello), Route("/upload", upload, methods=["POST"])],
    slos=[SLO(name="availability", objective=0.999)],
)
