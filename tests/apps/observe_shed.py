"""A CPU-bound service behind the default shedder: the overload and scrape tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

from prometheus_client import Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.observe import SLO
from hardened.shed import Priority, ShedConfig


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def work(request: Request) -> Response:
    """Holds the event loop for `ms` milliseconds of CPU (default 10)."""
    _spin(float(request.query_params.get("ms", "10")) / 1000)
    return PlainTextResponse("done")


async def upload(request: Request) -> Response:
    body = await request.body()
    return PlainTextResponse(str(len(body)))


class LagProbe:
    """A 5 ms heartbeat recording the largest event-loop lag since the last reset."""

    def __init__(self) -> None:
        self.max_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.005
            await asyncio.sleep(0.005)
            self.max_lag = max(self.max_lag, loop.time() - due)


probe = LagProbe()


class RenderProbe:
    """A collector that records the thread each scrape renders on, and can make it slow.

    `delay` seconds of blocking work per render stand in for a very large registry: rendered on
    the event loop they would stall it for that long; rendered in a thread they do not.
    """

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.delay = 0.0

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        self.threads.append(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)  # blocks whichever thread renders: the point of the probe
        yield GaugeMetricFamily("render_probe", "Renders seen by the probe.", len(self.threads))


render_probe = RenderProbe()


async def render_threads(request: Request) -> Response:
    """The threads scrapes rendered on since the last call, and the event loop's thread."""
    delay = request.query_params.get("delay")
    if delay is not None:
        render_probe.delay = float(delay)
    seen, render_probe.threads = render_probe.threads, []
    return JSONResponse({"loop": threading.get_ident(), "renders": seen})


async def inline(request: Request) -> Response:
    """Renders /metrics on the event loop: the stall the admin endpoint's thread avoids."""
    body = generate_latest(service.metrics_registry)
    return Response(body, media_type="text/plain")


async def lag(request: Request) -> Response:
    if probe._task is None:
        probe._task = asyncio.create_task(probe._run())
        await asyncio.sleep(0.05)
    value = probe.max_lag
    if request.query_params.get("reset"):
        probe.max_lag = 0.0
    return JSONResponse({"max_lag": value})


service = Service(
    "observe-shed",
    routes=[
        Route("/work", work),
        Route("/upload", upload, methods=["POST"]),
        Route("/lag", lag),
        Route("/reports", work),
        Route("/inline", inline),
        Route("/render-threads", render_threads),
    ],
    slos=[
        SLO(name="availability", objective=0.999),
        SLO(name="fast", objective=0.99, latency=0.25),
    ],
    shed=ShedConfig(
        route_priorities=(("/reports", Priority.SHEDDABLE),), trusted_networks=("127.0.0.0/8",)
    ),
)
# 2,000 extra series so a scrape has real work to do.
_wide = Gauge(
    "scrape_load", "Series that make the scrape large.", ["i"], registry=service.metrics_registry
)
for _i in range(2000):
    _wide.labels(str(_i)).set(_i)
service.metrics_registry.register(render_probe)
app = service
