"""The httpx transport: failing statuses, Retry-After, the budget header, unsafe methods."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import deadline_scope
from hardened.outbound import Dependency, DependencyConfig
from hardened.retry import RetryConfig
from hardened.testing import free_port


class Upstream:
    """A real ASGI app answering with a chosen status; it notes every request it gets."""

    def __init__(self, status: int, retry_after: str | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        self.seen: list[Request] = []
        self.app = Starlette(routes=[Route("/charge", self.charge, methods=["GET", "POST", "PUT"])])

    async def charge(self, request: Request) -> Response:
        self.seen.append(request)
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        return PlainTextResponse(f"answer {len(self.seen)}", self.status, headers=headers)


def client(upstream: Upstream) -> httpx.AsyncClient:
    retry = RetryConfig(retry_after_cap=0.01, base_delay=0.01, max_delay=0.01)
    dependency = Dependency("processor", DependencyConfig(retry=retry))
    transport = dependency.transport(httpx.ASGITransport(app=upstream.app))
    return httpx.AsyncClient(transport=transport, base_url="http://processor")


async def test_a_failing_status_is_retried_and_the_last_answer_returned() -> None:
    """A 503 with Retry-After is retried twice; the caller reads the third 503 as it came."""
    upstream = Upstream(503, retry_after="1")
    async with client(upstream) as http:
        answer = await http.get("/charge")
    assert answer.status_code == 503
    assert answer.text == "answer 3"
    assert len(upstream.seen) == 3


async def test_a_client_error_is_an_answer_not_a_failure() -> None:
    """A 404 comes back after one attempt and counts for nothing."""
    upstream = Upstream(404)
    async with client(upstream) as http:
        assert (await http.get("/charge")).status_code == 404
    assert len(upstream.seen) == 1


async def test_each_attempt_carries_the_remaining_budget() -> None:
    """Every attempt sends X-Request-Timeout, below the caller's 5 s and never growing."""
    upstream = Upstream(500)
    async with client(upstream) as http, deadline_scope(5.0):
        await http.get("/charge")
    sent = [float(request.headers["x-request-timeout"]) for request in upstream.seen]
    assert len(sent) == 3
    assert all(0 < budget < 5.0 for budget in sent)
    assert sent == sorted(sent, reverse=True)


async def test_post_is_retried_only_with_an_idempotency_key() -> None:
    """POST without Idempotency-Key is sent once; with one, it is retried with the same key."""
    bare, keyed = Upstream(502), Upstream(502)
    async with client(bare) as http:
        await http.post("/charge", json={"amount": 100})
    async with client(keyed) as http:
        await http.post("/charge", json={"amount": 100}, headers={"Idempotency-Key": "k-1"})
    assert len(bare.seen) == 1
    assert [request.headers["idempotency-key"] for request in keyed.seen] == ["k-1"] * 3


async def test_a_refused_connection_is_a_failure_that_reaches_the_caller() -> None:
    """A port nobody listens on fails each attempt; the caller gets httpx's ConnectError."""
    dependency = Dependency(
        "processor", DependencyConfig(retry=RetryConfig(base_delay=0.01, max_delay=0.01))
    )
    async with httpx.AsyncClient(transport=dependency.transport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/charge")
    assert dependency.breaker.window.failures == 3


async def test_a_streamed_body_is_sent_once() -> None:
    """A PUT whose body is an async stream is not retried: it could not be sent again."""
    upstream = Upstream(503)

    async def body() -> AsyncIterator[bytes]:
        yield b'{"amount": 100}'

    async with client(upstream) as http:
        assert (await http.put("/charge", content=body())).status_code == 503
    assert len(upstream.seen) == 1


async def test_a_refusal_raised_outside_httpx_reaches_the_caller_as_httpx_connect_error() -> None:
    """A fault refusing each attempt (as a drill's does) looks to httpx callers like a refused
    socket: three failures, then httpx.ConnectError, never a bare ConnectionRefusedError."""
    upstream = Upstream(200)

    async def refuse() -> None:
        raise ConnectionRefusedError("refused by the fault")

    retry = RetryConfig(base_delay=0.01, max_delay=0.01)
    dependency = Dependency("processor", DependencyConfig(retry=retry))
    dependency.fault = refuse
    transport = dependency.transport(httpx.ASGITransport(app=upstream.app))
    async with httpx.AsyncClient(transport=transport, base_url="http://processor") as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/charge")
    assert dependency.breaker.window.failures == 3
    assert upstream.seen == []
