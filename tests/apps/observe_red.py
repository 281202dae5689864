"""A service with plain routes, a Mount, CORS and redirects: the RED and cardinality tests."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from hardened import Service
from hardened.observe import SLO, ObserveConfig


async def item(request: Request) -> Response:
    return PlainTextResponse(f"item {request.path_params['item_id']}")


async def user(request: Request) -> Response:
    return PlainTextResponse(f"user {request.path_params['user_id']}")


async def status(request: Request) -> Response:
    return Response(status_code=int(request.path_params["code"]))


async def fail(request: Request) -> Response:
    raise RuntimeError("a bug")


async def create(request: Request) -> Response:
    return PlainTextResponse("created", status_code=201)


ROUTES = [
    Route("/items/{item_id:int}", item),
    Route("/items", create, methods=["POST"]),
    Route("/status/{code:int}", status),
    Route("/fail", fail),
    Mount("/api/v1", routes=[Route("/users/{user_id}", user)]),
]


def build(*, series_budget: int = 2000) -> Service:
    """A fresh service (tests build their own so metrics never leak between them)."""
    app = Starlette(
        routes=list(ROUTES),
        middleware=[Middleware(CORSMiddleware, allow_origins=["https://a.example"])],
    )
    return Service(
        "observe-red",
        app=app,
        observe=ObserveConfig(series_budget=series_budget),
        slos=[
            SLO(name="availability", objective=0.999),
            SLO(name="latency", objective=0.99, latency=0.3, routes=("/items/{item_id:int}",)),
        ],
    )


app = build()
