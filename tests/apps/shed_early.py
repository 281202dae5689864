"""A service whose event loop a test can hold: requests queue behind it, deterministically.

`GET /hold?id=ID` holds the loop (a sync wait, as a CPU-bound handler would) from the moment it
creates `<SHED_EARLY_DIR>/ID.held` until the test creates `ID.release` (at most 10 s). Requests
sent meanwhile wait in their sockets; when the hold ends the loop reads them late by as long as
the test waited, whatever the machine's speed. Critical requests are refused only past 5 s,
and no refusal without a body closes its connection (`close_per_second=0`), so each
connection's fate is the test's to see. `SHED_EARLY_TARGET` raises the queue-delay target.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Priority, Service
from hardened.shed import ShedConfig

SECRET = "gateway-secret-0123456789"
HOLD_LIMIT_S = 10.0


async def hold(request: Request) -> Response:
    """Hold the event loop until the test releases it (bounded)."""
    folder = Path(os.environ["SHED_EARLY_DIR"])
    name = request.query_params["id"]
    (folder / f"{name}.held").touch()
    release = folder / f"{name}.release"
    end = time.monotonic() + HOLD_LIMIT_S
    while not release.exists() and time.monotonic() < end:
        time.sleep(0.001)  # noqa: ASYNC251 - holding the loop is this route's purpose
    return PlainTextResponse("held")


async def work(request: Request) -> Response:
    return PlainTextResponse("work")


async def upload(request: Request) -> Response:
    """Reads the body (a request the shedder admits drains it)."""
    return PlainTextResponse(f"{len(await request.body())}")


_trusted = os.environ.get("SHED_TRUSTED_NETWORKS", "")
service = Service(
    "shed-early",
    routes=[
        Route("/hold", hold),
        Route("/work", work),
        Route("/batch", work),
        Route("/critical/work", work),
        Route("/upload", upload, methods=["POST"]),
    ],
    shed=ShedConfig(
        route_priorities=(("/critical", Priority.CRITICAL), ("/batch", Priority.SHEDDABLE)),
        trusted_networks=tuple(n for n in _trusted.split(",") if n),
        trusted_secret_header="x-gateway-secret",
        trusted_secret=SECRET,
        critical_queue_delay=5.0,
        close_per_second=0.0,
        # A calm test's target, far above any scheduler hiccup (the interval stays above it).
        queue_delay_target=float(os.environ.get("SHED_EARLY_TARGET", "0.020")),
        queue_delay_interval=max(0.1, 2 * float(os.environ.get("SHED_EARLY_TARGET", "0.020"))),
    ),
)
app = service
