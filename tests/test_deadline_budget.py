"""The request budget: sources, nearest wins, scopes, outbound headers, late and spent requests."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import ConfigError, DeadlineExceeded, Service
from hardened.deadline import (
    DeadlineConfig,
    cap,
    current_budget,
    deadline_scope,
    ensure_time_left,
    outbound_headers,
    parse_grpc_timeout,
    parse_request_timeout,
    remaining,
    route_timeout,
)
from hardened.testing import FakeClock

ran: list[str] = []


async def budget(request: Request) -> Response:
    ran.append(request.url.path)
    current = current_budget()
    assert current is not None
    return JSONResponse({"remaining": remaining(), "source": current.source})


@route_timeout(30.0)
async def export(request: Request) -> Response:
    return await budget(request)


@route_timeout(0.5)
async def quick(request: Request) -> Response:
    return await budget(request)


@route_timeout(0.3)
async def sleepy_route(request: Request) -> Response:
    return await sleepy(request)


async def sleepy(request: Request) -> Response:
    ran.append("sleepy")
    await asyncio.sleep(10)
    return JSONResponse({"woke": True})


def make_service(clock: FakeClock, **config: object) -> Service:
    routes = [
        Route("/budget", budget),
        Route("/export", export),
        Route("/quick", quick),
        Route("/sleepy", sleepy),
    ]
    # The deadline layer on its own: with the shedder on, late arrivals are dropped one layer
    # earlier (tests/test_shed_*), and this layer's own refusal is what is under test here.
    return Service(
        "svc",
        routes=routes,
        clock=clock,
        deadline=DeadlineConfig(**config),  # type: ignore[arg-type]
        shed=None,
    )


def client(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://t")


async def test_service_default_is_the_budget_without_other_sources(fake_clock: FakeClock) -> None:
    """No route override and no header: the service default (10 s) is the whole budget."""
    async with client(make_service(fake_clock)) as c:
        assert (await c.get("/budget")).json() == {"remaining": 10.0, "source": "service"}


async def test_route_override_replaces_the_default_longer_or_shorter(
    fake_clock: FakeClock,
) -> None:
    """@route_timeout gives a route its own budget: 30 s for an export, 0.5 s for a probe-like."""
    async with client(make_service(fake_clock)) as c:
        assert (await c.get("/export")).json() == {"remaining": 30.0, "source": "route"}
        assert (await c.get("/quick")).json() == {"remaining": 0.5, "source": "route"}


@pytest.mark.parametrize(
    ("headers", "path", "expected"),
    [
        ({"X-Request-Timeout": "2.5"}, "/budget", {"remaining": 2.5, "source": "header"}),
        ({"grpc-timeout": "1500m"}, "/budget", {"remaining": 1.5, "source": "header"}),
        ({"X-Request-Timeout": "60"}, "/budget", {"remaining": 10.0, "source": "service"}),
        ({"X-Request-Timeout": "12"}, "/export", {"remaining": 12.0, "source": "header"}),
        (
            {"X-Request-Timeout": "3", "grpc-timeout": "2S"},
            "/budget",
            {"remaining": 2.0, "source": "header"},
        ),
        ({"X-Request-Timeout": "1"}, "/quick", {"remaining": 0.5, "source": "route"}),
    ],
)
async def test_the_nearest_deadline_wins(
    fake_clock: FakeClock, headers: dict[str, str], path: str, expected: dict[str, object]
) -> None:
    """Inbound headers only shorten the budget; the smallest of all sources is in force."""
    async with client(make_service(fake_clock)) as c:
        assert (await c.get(path, headers=headers)).json() == expected


async def test_inbound_headers_ignored_when_not_accepted(fake_clock: FakeClock) -> None:
    """accept_inbound=False: a caller's header does not change the budget."""
    service = make_service(fake_clock, accept_inbound=False)
    async with client(service) as c:
        answer = await c.get("/budget", headers={"X-Request-Timeout": "1"})
    assert answer.json() == {"remaining": 10.0, "source": "service"}


async def test_malformed_header_is_ignored_and_counted(fake_clock: FakeClock) -> None:
    """A garbage X-Request-Timeout keeps the default budget and shows up in the evidence."""
    service = make_service(fake_clock)
    async with client(service) as c:
        for value in ("soon", "nan", "1e3", "inf"):
            answer = await c.get("/budget", headers={"X-Request-Timeout": value})
            assert answer.json()["source"] == "service"
    evidence = service.report()["gates"][1]["evidence"]
    assert evidence["malformed_headers"] == 4


@pytest.mark.parametrize("value", ["0", "-1.5", "0.000"])
async def test_a_request_arriving_late_is_refused_before_any_work(
    fake_clock: FakeClock, value: str
) -> None:
    """A spent inbound budget: 504 problem+json, and the handler never runs."""
    ran.clear()
    service = make_service(fake_clock)
    async with client(service) as c:
        answer = await c.get("/budget", headers={"X-Request-Timeout": value})
    assert answer.status_code == 504
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/deadline-exceeded")
    assert ran == []
    assert service.report()["gates"][1]["evidence"]["refused_late"] == 1


async def test_spent_budget_answers_504_and_cancels_the_handler() -> None:
    """A 0.2 s budget against a 10 s handler: 504 after about 0.2 s, the handler cancelled."""
    ran.clear()
    service = Service("svc", routes=[Route("/sleepy", sleepy)])
    loop = asyncio.get_running_loop()
    async with client(service) as c:
        began = loop.time()
        answer = await c.get("/sleepy", headers={"X-Request-Timeout": "0.2"})
        elapsed = loop.time() - began
    assert answer.status_code == 504
    assert "0.2s" in answer.json()["detail"]
    assert ran == ["sleepy"]
    assert 0.2 <= elapsed < 0.2 + 0.25
    assert service.report()["gates"][1]["evidence"]["expired"] == 1


async def test_service_budget_expires_each_of_concurrent_requests() -> None:
    """Service budget 0.2 s, three 10 s handlers at once: three 504s, none after the budget."""
    ran.clear()
    service = Service(
        "svc",
        routes=[Route("/sleepy", sleepy), Route("/budget", budget)],
        deadline=DeadlineConfig(default_timeout=0.2),
    )
    loop = asyncio.get_running_loop()
    async with client(service) as c:
        began = loop.time()
        answers = await asyncio.gather(*(c.get("/sleepy") for _ in range(3)))
        elapsed = loop.time() - began
        fast = await c.get("/budget")
    assert [answer.status_code for answer in answers] == [504, 504, 504]
    assert "service budget of 0.2s" in answers[0].json()["detail"]
    assert 0.2 <= elapsed < 0.2 + 0.25
    assert fast.status_code == 200
    assert service.report()["gates"][1]["evidence"]["expired"] == 3


async def test_route_budget_answers_504_when_it_is_spent() -> None:
    """A route's own 0.3 s budget against a 10 s handler: 504 after 0.3 s, not later."""
    ran.clear()
    service = Service(
        "svc",
        routes=[Route("/sleepy-route", sleepy_route)],
        deadline=DeadlineConfig(default_timeout=5.0),
    )
    loop = asyncio.get_running_loop()
    async with client(service) as c:
        began = loop.time()
        answer = await c.get("/sleepy-route")
        elapsed = loop.time() - began
    assert answer.status_code == 504
    assert "route budget of 0.3s" in answer.json()["detail"]
    assert 0.3 <= elapsed < 0.3 + 0.25


async def test_header_budget_shorter_than_the_route_budget_fires_first() -> None:
    """X-Request-Timeout 0.2 on a 0.3 s route: the caller's budget fires, at 0.2 s."""
    service = Service("svc", routes=[Route("/sleepy-route", sleepy_route)])
    loop = asyncio.get_running_loop()
    async with client(service) as c:
        began = loop.time()
        answer = await c.get("/sleepy-route", headers={"X-Request-Timeout": "0.2"})
        elapsed = loop.time() - began
    assert answer.status_code == 504
    assert "header budget of 0.2s" in answer.json()["detail"]
    assert 0.2 <= elapsed < 0.2 + 0.25


def test_parsers() -> None:
    """Decimal seconds and gRPC's units parse; anything else is None."""
    assert parse_request_timeout(b"1.25") == 1.25
    assert parse_request_timeout(b" 3 ") == 3.0
    assert parse_request_timeout(b"-2") == -2.0
    for bad in (b"", b"1e3", b"nan", b"inf", b"1,5", b"1.2.3"):
        assert parse_request_timeout(bad) is None
    assert parse_grpc_timeout(b"2H") == 7200.0
    assert parse_grpc_timeout(b"3M") == 180.0
    assert parse_grpc_timeout(b"100m") == pytest.approx(0.1)
    assert parse_grpc_timeout(b"250u") == pytest.approx(0.00025)
    assert parse_grpc_timeout(b"5n") == pytest.approx(5e-9)
    for bad in (b"5", b"123456789S", b"1.5S", b"5s"):
        assert parse_grpc_timeout(bad) is None


async def test_deadline_scope_nearest_wins_and_outbound_header_follows(
    fake_clock: FakeClock,
) -> None:
    """Nested scopes keep the nearer deadline; outbound headers carry what is left minus 50 ms."""
    assert remaining() is None
    assert outbound_headers() == {}
    assert cap(3.0) == 3.0
    async with deadline_scope(10.0, clock=fake_clock):
        fake_clock.advance(7.5)
        assert remaining() == 2.5
        assert cap(5.0) == 2.5
        assert outbound_headers() == {"x-request-timeout": "2.450"}
        assert outbound_headers(grpc=True) == {"grpc-timeout": "2450m"}
        async with deadline_scope(1.0) as inner:
            assert inner.source == "scope"
            assert remaining() == 1.0
        async with deadline_scope(20.0) as outer:
            assert remaining() == 2.5
            assert outer.deadline == fake_clock.monotonic() + 2.5
        fake_clock.advance(2.46)
        with pytest.raises(DeadlineExceeded, match="outbound"):
            outbound_headers()
        fake_clock.advance(1.0)
        assert cap(5.0) == 0.0
        with pytest.raises(DeadlineExceeded):
            ensure_time_left("the charge")
        with pytest.raises(DeadlineExceeded, match="already spent"):
            async with deadline_scope(5.0):
                pass
    assert remaining() is None


async def test_deadline_scope_enforces_its_deadline() -> None:
    """Work inside a 50 ms scope that takes 10 s is cancelled with DeadlineExceeded."""
    with pytest.raises(DeadlineExceeded) as raised:
        async with deadline_scope(0.05):
            await asyncio.sleep(10)
    assert isinstance(raised.value, TimeoutError)


def test_config_rejects_unbounded_or_empty_budgets() -> None:
    """A budget must be positive and finite, for the service and for a route."""
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError):
            DeadlineConfig(default_timeout=bad)
        with pytest.raises(ConfigError):
            route_timeout(bad)
