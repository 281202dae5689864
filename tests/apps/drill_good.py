"""A service every drill passes against: declared drill requests, hooks and tight limits.

`build()` makes one such service; tests/apps/drill_broken.py builds the same one with one
gate's protection taken away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import LoadShed, Service
from hardened.breaker import BreakerConfig, BulkheadConfig
from hardened.deadline import DeadlineConfig
from hardened.drill import DrillConfig, DrillHooks, DrillRequest
from hardened.lifecycle import LifecycleConfig
from hardened.observe import SLO
from hardened.outbound import Dependency, DependencyConfig
from hardened.retry import RetryConfig
from hardened.shed import Priority, ShedConfig

ECHO = DependencyConfig(
    attempt_timeout=0.3,
    total_timeout=1.0,
    breaker=BreakerConfig(window=2.0, min_calls=10, open_for=1.0, probes=2),
    bulkhead=BulkheadConfig(max_concurrent=20, max_wait=0.05),
    retry=RetryConfig(max_delay=0.2, retry_after_cap=0.2),
)

# Priorities by route: a client's own x-priority claim is not trusted.
SHED = ShedConfig(
    route_priorities=(("/critical", Priority.CRITICAL), ("/work", Priority.SHEDDABLE))
)


def hold_the_loop(seconds: float) -> None:
    """The drill hook: block the event loop, as a stray synchronous call would."""
    time.sleep(seconds)


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "1.0")))
    return PlainTextResponse("slept")


async def upload(request: Request) -> Response:
    return JSONResponse({"received": len(await request.body())})


async def work(request: Request) -> Response:
    end = time.perf_counter() + float(request.query_params.get("ms", "10")) / 1000
    while time.perf_counter() < end:  # CPU on the loop (10 ms unless ?ms= says otherwise)
        pass
    return PlainTextResponse("done")


async def answer() -> str:
    return "echoed"


def refusing_first(count: int) -> Callable[[Request], Awaitable[Response]]:
    """`slow`, but its first `count` requests are refused on arrival, as a busy shedder would."""
    refused = 0

    async def endpoint(request: Request) -> Response:
        nonlocal refused
        if refused < count:
            refused += 1
            raise LoadShed("refused on arrival", retry_after=1)
        return await slow(request)

    return endpoint


def build(
    name: str,
    *,
    echo: DependencyConfig = ECHO,
    slow_endpoint: Callable[[Request], Awaitable[Response]] = slow,
    **options: Any,
) -> Service:
    """The drill-ready service; `options` replace its `Service` settings."""
    dependency = Dependency("echo", echo)

    async def outbound(request: Request) -> Response:
        return PlainTextResponse(await dependency.call(answer, idempotent=True))

    hooks = DrillHooks(
        DrillConfig(
            slow=DrillRequest(path="/slow", safe=True),
            upload=DrillRequest(path="/upload", method="POST", safe=True),
            outbound=DrillRequest(path="/outbound", safe=True),
            critical=DrillRequest(path="/critical"),
            cpu=DrillRequest(path="/work"),
            block_loop=hold_the_loop,
            dependencies=[dependency],
        )
    )
    settings: dict[str, Any] = {
        "lifecycle": LifecycleConfig(
            max_body_bytes=64 * 1024, header_timeout=1.0, body_timeout=1.0
        ),
        "deadline": DeadlineConfig(default_timeout=5.0),
        "slos": [SLO(name="availability", objective=0.999)],
        "shed": SHED,
        **options,
    }
    routes = [
        Route("/slow", slow_endpoint),
        Route("/upload", upload, methods=["POST"]),
        Route("/outbound", outbound),
        Route("/work", work),
        Route("/critical", work),
    ]
    return Service(name, routes=routes, mechanisms=[dependency, hooks], **settings)


app = build("drill-good")

# Its first two slow requests are refused on arrival: the in-flight drill sends them again.
busy_at_first = build("drill-busy-at-first", slow_endpoint=refusing_first(2))
