"""The trivial GET of the edge-overhead comparison, served five ways.

`bare` is plain Starlette; `hardened` is `Service` with whatever default stack it installs at the
time of the run; `edge_gates` the same with only the lifecycle and deadline layers; `exporter`
and `instrumentator` are the same Starlette app with the peer libraries' metrics middleware.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette_exporter import PrometheusMiddleware

from hardened import Service


async def hello(request: Request) -> Response:
    """The trivial handler: a fixed short body."""
    return PlainTextResponse("hello")


def _routes() -> list[Route]:
    return [Route("/", hello)]


bare = Starlette(routes=_routes())

hardened = Service("bench-edge", routes=_routes())

# The edge issue's own stack: lifecycle and deadline layers (observe and shed turned off).
edge_gates = Service("bench-edge-gates", routes=_routes(), observe=None, shed=None)

exporter = Starlette(routes=_routes(), middleware=[Middleware(PrometheusMiddleware)])

instrumentator = Starlette(routes=_routes())
Instrumentator(registry=CollectorRegistry()).instrument(instrumentator)
