"""A service on the default edge settings with an SLO, for the adversarial tests."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.deadline import DeadlineConfig
from hardened.lifecycle import HeaderLimits, LifecycleConfig
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

# The same routes with tight header bounds (`tests.apps.hostile:tight`).
tight = Service(
    "hostile-tight",
    routes=[Route("/hello", hello)],
    lifecycle=LifecycleConfig(
        header_limits=HeaderLimits(max_line_bytes=1024, max_total_bytes=4096, max_fields=20)
    ),
)

# The upload route with a 2 s request budget (`tests.apps.hostile:brief`): a test that waits a
# budget out waits 2 s, not the default 10 s.
BRIEF_BUDGET = 2.0
brief = Service(
    "hostile-brief",
    routes=[Route("/upload", upload, methods=["POST"])],
    deadline=DeadlineConfig(default_timeout=BRIEF_BUDGET),
)
