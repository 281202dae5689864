"""The shedder's edge stage in process: who may claim a priority (trusted networks, the
gateway's secret), a request judged on its accept-queue wait, a caller whose own budget is
spent, what it counts, and the one heartbeat it shares with the loop monitor."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.faults import CLIENT_FAULT, ClientFault
from hardened.heartbeat import Heartbeat
from hardened.shed import Priority, ShedConfig, Shedder
from hardened.stages import Exchange, Refused

SECRET = "set-by-our-own-gateway"
OUTSIDE, INSIDE = "203.0.113.9", "127.0.0.1"


def shedder(**config: Any) -> Shedder:
    """A shedder whose loop is 50 ms behind: past the 20 ms target (sheddable work is
    refused), within standard's 100 ms burst allowance (standard work is served)."""
    counter = Counter("rejected", "r", ["reason", "priority"], registry=CollectorRegistry())
    settings: dict[str, Any] = {"route_priorities": (("/reports", Priority.SHEDDABLE),)}
    made = Shedder(ShedConfig(**settings | config), counter)
    made.monitor.ensure_running(asyncio.get_running_loop())
    made.monitor.last = 0.05
    return made


def exchange(path: str, headers: dict[bytes, bytes], client: str, **scope: Any) -> Exchange:
    request = {"type": "http", "method": "GET", "path": path, "headers": [], "client": (client, 1)}

    async def no_body() -> dict[str, Any]:
        return {"type": "http.request"}

    async def drop(message: Any) -> None:
        return None

    return Exchange(request | scope, no_body, drop, headers, 0.0, asyncio.get_running_loop())


def admitted(stage: Shedder, entering: Exchange) -> bool:
    try:
        return stage.enter(entering)
    except Refused:
        return False


async def test_the_gateways_secret_makes_a_claim_count_from_anywhere() -> None:
    """Claiming critical on a sheddable route: served with the secret, shed without it or
    with a wrong one; each decision counted."""
    stage = shedder(trusted_secret_header="x-gateway-secret", trusted_secret=SECRET)
    try:
        claim = {b"x-priority": b"critical"}
        with_secret = claim | {b"x-gateway-secret": SECRET.encode()}
        wrong = claim | {b"x-gateway-secret": b"guessed-by-someone-else"}
        assert admitted(stage, exchange("/reports", with_secret, OUTSIDE))
        assert not admitted(stage, exchange("/reports", wrong, OUTSIDE))
        assert not admitted(stage, exchange("/reports", claim, INSIDE))
        assert (stage.trust.honoured, stage.trust.ignored) == (1, 2)
    finally:
        stage.monitor.stop()


async def test_without_a_priority_header_or_late_drops_there_is_no_claim_and_no_budget() -> None:
    """Neither read is configured: no claim and no caller budget, whatever the request sent."""
    stage = shedder(priority_header=None, drop_late=False)
    headers = {b"x-priority": b"critical", b"x-request-timeout": b"0"}
    assert stage.claims({"client": (INSIDE, 1)}, headers) == (None, None)
    assert admitted(stage, exchange("/", headers, INSIDE))


async def test_only_a_claim_is_judged_on_trust() -> None:
    """From outside the trusted networks: no claim keeps the route's priority (standard is
    served), a claim is shed first whatever it claims."""
    stage = shedder(trusted_networks=("127.0.0.0/8",))
    try:
        assert admitted(stage, exchange("/work", {}, OUTSIDE))
        assert not admitted(stage, exchange("/reports", {}, OUTSIDE))
        assert not admitted(stage, exchange("/work", {b"x-priority": b"critical"}, OUTSIDE))
        assert admitted(stage, exchange("/work", {b"x-priority": b"critical"}, INSIDE))
        assert (stage.trust.honoured, stage.trust.ignored) == (1, 1)
        assert stage.admitted == 2
    finally:
        stage.monitor.stop()


async def test_the_secret_header_is_read_through_the_services_header_scan() -> None:
    """Through a whole service, under overload: the claim with the gateway's secret is served,
    the same claim without it is refused."""

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    service = Service(
        "claims",
        routes=[Route("/x", ok)],
        shed=ShedConfig(
            heartbeat=1.0,  # slow: no beat overwrites the delay set below
            queue_delay_target=1.0,
            critical_queue_delay=5.0,
            trusted_secret_header="x-gateway-secret",
            trusted_secret=SECRET,
        ),
    )
    stage = service.shedder
    assert stage is not None
    claim = {"x-priority": "critical"}
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/x")).status_code == 200  # starts the heartbeat
        stage.monitor.last, stage.codel.overloaded = 2.0, True
        served = await client.get("/x", headers=claim | {"x-gateway-secret": SECRET})
        refused = await client.get("/x", headers=claim)
    assert (served.status_code, refused.status_code) == (200, 503)


async def test_a_request_is_judged_on_its_wait_in_the_accept_queue() -> None:
    """The loop itself calm, a request stamped 300 ms before it reached the stage is refused
    (standard, sheddable); critical work is judged on the loop's own delay and served; 10 ms
    in the queue is nothing."""
    stage = shedder()
    stage.monitor.last = 0.0
    try:
        now = asyncio.get_running_loop().time()

        def waited(seconds: float, headers: dict[bytes, bytes] | None = None) -> Exchange:
            return exchange("/work", headers or {}, INSIDE, **{"hardened.arrived": now - seconds})

        assert admitted(stage, waited(0.01))
        assert not admitted(stage, waited(0.3))
        assert not admitted(
            stage, exchange("/reports", {}, INSIDE, **{"hardened.arrived": now - 0.3})
        )
        critical = shedder(trusted_networks=("127.0.0.0/8",))
        critical.monitor.last = 0.0
        try:
            assert admitted(critical, waited(0.3, {b"x-priority": b"critical"}))
        finally:
            critical.monitor.stop()
    finally:
        stage.monitor.stop()


async def test_a_caller_whose_budget_is_spent_gets_a_504_of_its_own() -> None:
    """X-Request-Timeout: 0 is refused before any work: 504 without Retry-After, noted as the
    caller's budget (its own route in the metrics, never the service's error budget)."""
    stage = shedder()
    stage.monitor.last = 0.0
    try:
        late = exchange("/work", {b"x-request-timeout": b"0"}, INSIDE)
        with pytest.raises(Refused) as refused:
            stage.enter(late)
        status, headers, _ = refused.value.answer
        assert status == 504
        assert b"retry-after" not in dict(headers)
        assert late.scope[CLIENT_FAULT] is ClientFault.BUDGET
        on_time = exchange("/work", {b"x-request-timeout": b"5"}, INSIDE)
        assert stage.enter(on_time)
        assert CLIENT_FAULT not in on_time.scope
    finally:
        stage.monitor.stop()


async def test_the_shedder_beats_with_the_heartbeat_it_is_given() -> None:
    """One heartbeat per loop: a shedder built with the loop monitor's uses that one."""
    counter = Counter("rejected", "r", ["reason", "priority"], registry=CollectorRegistry())
    shared = Heartbeat(0.01)
    assert Shedder(ShedConfig(), counter, heartbeat=shared).monitor.heartbeat is shared
