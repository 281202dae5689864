"""A CPU-bound endpoint (10 ms of CPU per request) for the overload comparison.

`bare` is plain Starlette (served by stock uvicorn, with and without `--limit-concurrency`);
`hardened` is `Service` with its default stack, shedder included once it exists.
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service

WORK_CPU_S = 0.010


def burn(seconds: float) -> None:
    """Spin for `seconds` of this thread's CPU time (a stand-in for real per-request work)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def work(request: Request) -> Response:
    """10 ms of CPU on the event loop, then a short answer."""
    burn(WORK_CPU_S)
    return PlainTextResponse("done")


def _routes() -> list[Route]:
    return [Route("/work", work)]


bare = Starlette(routes=_routes())

hardened = Service("bench-overload", routes=_routes())
