"""The shed layer in process: exemptions, cached answers, Connection: close, RED labels."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.shed import LimitedShedder, ShedConfig, Shedder


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def _service(**config: object) -> tuple[Service, Shedder]:
    # A slow heartbeat (1 s) so that no beat overwrites the delay a test sets by hand.
    slow: dict[str, object] = {
        "heartbeat": 1.0,
        "queue_delay_target": 1.0,
        "critical_queue_delay": 5.0,
    }
    service = Service(
        "shed-asgi",
        routes=[Route("/x", ok, methods=["GET", "POST"]), Route("/internal/x", ok)],
        shed=ShedConfig(**slow, **config),  # type: ignore[arg-type]
    )
    assert service.shedder is not None
    return service, service.shedder


def _overload(shedder: Shedder) -> None:
    shedder.monitor.last = 2.0  # as if the last heartbeat ran two seconds late
    shedder.codel.overloaded = True


async def test_overloaded_shedder_refuses_but_exempt_paths_pass() -> None:
    """Past the queue delay every non-exempt request is a 503; exempt prefixes still serve."""
    service, shedder = _service(exempt_paths=("/internal",), close_per_second=0)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service), base_url="http://t"
    ) as client:
        assert (await client.get("/x")).status_code == 200  # starts the heartbeat
        _overload(shedder)
        refused = await client.get("/x")
        assert refused.status_code == 503
        assert 1 <= int(refused.headers["retry-after"]) <= 5
        assert "connection" not in refused.headers  # no close budget, no body
        with_body = await client.post("/x", content=b"{}" * 100)
        assert with_body.status_code == 503
        assert with_body.headers["connection"] == "close"  # the unread body forbids reuse
        assert (await client.get("/internal/x")).status_code == 200
        assert (await client.get("/livez")).status_code == 200
    registry = service.metrics_registry
    labels = {"method": "GET", "route": "__shed__", "status": "503"}
    assert registry.get_sample_value("http_server_requests_total", labels) == 1
    assert shedder.state()["rejected_total"] == 2
    assert shedder.state()["connections_closed_total"] == 1


async def test_close_budget_limits_connection_close_per_second() -> None:
    """With a budget of 2 closes per second, a burst of 10 rejections closes 2 connections."""
    service, shedder = _service(close_per_second=2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service), base_url="http://t"
    ) as client:
        await client.get("/x")
        _overload(shedder)
        answers = [await client.get("/x") for _ in range(10)]
    assert [a.status_code for a in answers] == [503] * 10
    closed = sum(1 for a in answers if a.headers.get("connection") == "close")
    assert 1 <= closed <= 3


async def test_critical_header_passes_a_standard_overload() -> None:
    """While standard traffic is refused, X-Priority: critical from a trusted peer is served."""
    service, shedder = _service(trusted_networks=("127.0.0.0/8",))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service), base_url="http://t"
    ) as client:
        await client.get("/x")
        _overload(shedder)
        shedder.monitor.last = 1.5  # overloaded, but below the critical queue delay
        assert (await client.get("/x")).status_code == 503
        assert (await client.get("/x", headers={"x-priority": "critical"})).status_code == 200
        assert (await client.get("/x", headers={"x-priority": "bogus"})).status_code == 503


def test_fast_requests_teach_the_limit_on_uvloop() -> None:
    """Sub-millisecond requests count as latency samples on uvloop (whose loop.time() is coarse)."""
    import uvloop

    service, shedder = _service(adaptive_limit=True, warmup_samples=10)
    assert isinstance(shedder, LimitedShedder)

    async def drive() -> None:
        transport = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(12):
                assert (await client.get("/x")).status_code == 200

    uvloop.run(drive())
    assert shedder.limit.samples == 12
    assert shedder.limit.learned
    assert shedder.limit.rtts[0] > 0
