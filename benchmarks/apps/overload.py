"""A CPU-bound endpoint (10 ms of CPU per request) for the overload comparison.

`bare` is plain Starlette (served by stock uvicorn, with and without `--limit-concurrency`);
`hardened` is `Service` with its default stack; its shedder trusts the priority header from
loopback (the load client stands for the service's own gateway).

Each answer carries `X-Bench-Timing: <start> <end>`, two CLOCK_MONOTONIC readings in seconds
(one clock for every process on the host, so the client can subtract them from its own): when
the handler started and when it finished. The client splits each request's latency with them:
before the handler (socket buffers, the loop's queue, parsing, the edge layers, the shedder's
decision), the handler, and after it (writing the answer, the client reading it).
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from benchmarks._client import TIMING_HEADER
from hardened import Service
from hardened.shed import ShedConfig

WORK_CPU_S = 0.010


def burn(seconds: float) -> None:
    """Spin for `seconds` of this thread's CPU time (a stand-in for real per-request work)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def work(request: Request) -> Response:
    """10 ms of CPU on the event loop, then a short answer with the server's timestamps."""
    start = time.monotonic()
    burn(WORK_CPU_S)
    timing = f"{start:.6f} {time.monotonic():.6f}"
    return PlainTextResponse("done", headers={TIMING_HEADER: timing})


def _routes() -> list[Route]:
    return [Route("/work", work)]


bare = Starlette(routes=_routes())

# The load client plays the service's own gateway: its priority header is trusted.
hardened = Service(
    "bench-overload", routes=_routes(), shed=ShedConfig(trusted_networks=("127.0.0.0/8",))
)
