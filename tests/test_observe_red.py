"""RED metrics: template labels, exact statuses, SLO buckets, exemplars, the series budget."""

from __future__ import annotations

import asyncio
import random
import string

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.observe import SLO, ObserveConfig
from tests.apps import observe_red

STANDARD = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"]


def _client(service: Service) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=service, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def _label_sets(registry: CollectorRegistry, family: str) -> set[tuple[tuple[str, str], ...]]:
    found = set()
    for metric in registry.collect():
        if metric.name == family:
            for sample in metric.samples:
                labels = {k: v for k, v in sample.labels.items() if k != "le"}
                found.add(tuple(sorted(labels.items())))
    return found


def _count(registry: CollectorRegistry, **labels: str) -> float:
    value = registry.get_sample_value("http_server_requests_total", labels)
    return value or 0.0


async def test_routes_are_labelled_by_template_including_mounts() -> None:
    """Path parameters and Mount prefixes collapse to the template; no match is __unmatched__."""
    service = observe_red.build()
    registry = service.metrics_registry
    async with _client(service) as client:
        for item_id in range(5):
            assert (await client.get(f"/items/{item_id}")).status_code == 200
        assert (await client.get("/api/v1/users/alice")).status_code == 200
        assert (await client.get("/api/v1/users/bob")).status_code == 200
        assert (await client.get("/no/such/path")).status_code == 404
        assert (await client.get("/items/not-an-int")).status_code == 404
        assert (await client.delete("/items")).status_code == 405
        assert (await client.request("BREW", "/items/1")).status_code == 405
        assert (await client.get("/fail")).status_code == 500
    assert _count(registry, method="GET", route="/items/{item_id}", status="200") == 5
    assert _count(registry, method="GET", route="/api/v1/users/{user_id}", status="200") == 2
    assert _count(registry, method="GET", route="__unmatched__", status="404") == 2
    assert _count(registry, method="DELETE", route="/items", status="405") == 1
    assert _count(registry, method="_OTHER", route="/items/{item_id}", status="405") == 1
    assert _count(registry, method="GET", route="/fail", status="500") == 1
    count = registry.get_sample_value(
        "http_server_request_duration_seconds_count",
        {"method": "GET", "route": "/fail", "status_class": "5xx"},
    )
    assert count == 1
    assert registry.get_sample_value("http_server_active_requests") == 0


async def test_cardinality_stays_bounded_under_10000_junk_requests() -> None:
    """10,000 random paths, junk methods, CORS preflights and 307s: series stay within the bound."""
    service = observe_red.build()
    rng = random.Random(6)
    methods = [*STANDARD, "get", "BREW", "PROPFIND", "X" * 40, "MKCOL"]
    async with _client(service) as client:
        for i in range(10_000):
            kind = i % 5
            if kind == 0:  # random junk paths
                word = "".join(rng.choices(string.ascii_letters + string.digits, k=12))
                await client.request(rng.choice(methods), f"/{word}/{rng.randint(0, 10**9)}")
            elif kind == 1:  # CORS preflights on real and fake paths
                await client.options(
                    rng.choice(["/items/1", f"/x{i}", "/api/v1/users/z"]),
                    headers={
                        "origin": rng.choice(["https://a.example", f"https://{i}.evil"]),
                        "access-control-request-method": "POST",
                    },
                )
            elif kind == 2:  # redirect_slashes 307s
                await client.get(f"/items/{i}/")
            elif kind == 3:  # real routes, random ids and methods
                await client.request(rng.choice(methods), f"/api/v1/users/{i}")
            else:
                await client.get(f"/items/{rng.randint(0, 10**12)}")
    registry = service.metrics_registry
    assert service.observability.routes is not None
    routes = len(service.observability.routes.templates()) + 1  # + __unmatched__
    bound = routes * (len(STANDARD) + 1) * 5
    histogram = _label_sets(registry, "http_server_request_duration_seconds")
    counter = _label_sets(registry, "http_server_requests")
    assert len(histogram) <= bound
    assert len(counter) <= bound + 10
    assert len(histogram) < 40  # what this traffic really produces: a few dozen, not thousands
    total = sum(
        len(metric.samples)
        for metric in registry.collect()
        if metric.name.startswith("http_server_")
    )
    assert total < 2_000
    assert (
        registry.get_sample_value(
            "metrics_cardinality_overflow_total", {"metric": "http_server_requests_total"}
        )
        == 0
    )


async def test_series_budget_sends_new_label_sets_to_overflow() -> None:
    """Past the budget, new label sets go to route=__overflow__ and the overflow counter grows."""
    service = observe_red.build(series_budget=10)
    registry = service.metrics_registry
    async with _client(service) as client:
        for code in range(200, 260):
            await client.get(f"/status/{code}")
    counter = _label_sets(registry, "http_server_requests")
    assert len([labels for labels in counter if ("route", "__overflow__") not in labels]) == 10
    assert _count(registry, method="GET", route="__overflow__", status="2xx") == 50
    overflowed = registry.get_sample_value(
        "metrics_cardinality_overflow_total", {"metric": "http_server_requests_total"}
    )
    assert overflowed == 50
    assert service.observability.metrics is not None
    assert service.observability.metrics.series()["http_server_requests_total"] == 11


def test_slo_latency_threshold_becomes_a_bucket_boundary() -> None:
    """A latency SLO of 0.3 s (not a default bucket) adds le="0.3" to the histogram."""
    service = observe_red.build()
    assert service.observability.metrics is not None
    assert 0.3 in service.observability.metrics.buckets
    assert 0.25 in service.observability.metrics.buckets
    custom = Service(
        "s",
        observe=ObserveConfig(buckets=(0.1, 1.0)),
        slos=[SLO(name="fast", objective=0.99, latency=0.2)],
    )
    assert custom.observability.metrics is not None
    assert custom.observability.metrics.buckets == (0.1, 0.2, 1.0)


async def test_trace_id_becomes_an_exemplar_in_openmetrics() -> None:
    """A W3C traceparent's trace id is attached as an exemplar; requests without one get none."""
    service = observe_red.build()
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with _client(service) as client:
        await client.get("/items/1", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        await client.get("/items/2")
    text = openmetrics_latest(service.metrics_registry).decode()  # type: ignore[no-untyped-call]
    exemplars = [line for line in text.splitlines() if "# {" in line]
    assert len(exemplars) == 1
    assert f'trace_id="{trace}"' in exemplars[0]
    assert 'route="/items/{item_id}"' in exemplars[0]


async def test_slo_events_are_counted_per_request() -> None:
    """Availability counts 5xx as bad, 4xx as good; a route-scoped SLO sees only its route."""
    service = observe_red.build()
    assert service.observability.metrics is not None
    availability, latency = service.observability.metrics.trackers
    async with _client(service) as client:
        for _ in range(3):
            await client.get("/items/1")
        await client.get("/nope")
        await client.get("/fail")
    now = service.clock.monotonic()
    assert availability.counts(now, 300) == (4, 5)
    assert latency.counts(now, 300) == (3, 3)  # scoped to /items/{item_id}
    assert availability.burn_rate(now, 300) == (1 / 5) / availability.slo.error_budget


async def test_fastapi_routers_are_labelled_by_template() -> None:
    """FastAPI included routers (prefixes, one router included twice, 422s) get templates."""
    from fastapi import APIRouter, FastAPI

    api = FastAPI()
    router = APIRouter(prefix="/v2")

    @router.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"order_id": order_id}

    api.include_router(router)
    api.include_router(router, prefix="/legacy")  # the same route objects under two prefixes
    service = Service("fastapi-red", app=api)
    async with _client(service) as client:
        assert (await client.get("/v2/orders/1")).status_code == 200
        assert (await client.get("/v2/orders/2")).status_code == 200
        assert (await client.get("/v2/orders/abc")).status_code == 422
        assert (await client.get("/v2/nothing")).status_code == 404
        assert (await client.get("/legacy/v2/orders/3")).status_code == 200
    registry = service.metrics_registry
    assert _count(registry, method="GET", route="/v2/orders/{order_id}", status="200") == 2
    assert _count(registry, method="GET", route="/v2/orders/{order_id}", status="422") == 1
    assert _count(registry, method="GET", route="__unmatched__", status="404") == 1
    assert _count(registry, method="GET", route="/legacy/v2/orders/{order_id}", status="200") == 1


async def test_a_client_that_went_away_is_recorded_as_499_not_500() -> None:
    """A request cancelled before its answer (the client left) counts as 499; a bug as 500."""

    async def slow(request: Request) -> Response:
        await asyncio.sleep(10)
        return PlainTextResponse("late")

    async def bug(request: Request) -> Response:
        raise RuntimeError("a bug")

    service = Service("svc", routes=[Route("/slow", slow), Route("/bug", bug)])
    registry = service.metrics_registry
    async with _client(service) as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.get("/slow"), 0.2)
        assert (await client.get("/bug")).status_code == 500
    assert _count(registry, method="GET", route="/slow", status="499") == 1
    assert _count(registry, method="GET", route="/slow", status="500") == 0
    assert _count(registry, method="GET", route="/bug", status="500") == 1
