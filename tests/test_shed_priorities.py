"""Priorities by route, overridden by a trusted header; a refusal closes on an unread body."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from hardened.shed import Priority, ShedConfig, Shedder
from hardened.stages import Exchange, Refused
from hardened.testing import RunningServer, run_server
from tests.conftest import REPO_ROOT
from tests.test_lifecycle_edge import read_response


def _shedder() -> Shedder:
    """A shedder past its queue-delay target (50 ms: within standard's burst allowance)."""
    counter = Counter("rejected", "r", ["reason", "priority"], registry=CollectorRegistry())
    config = ShedConfig(
        route_priorities=(("/reports", Priority.SHEDDABLE), ("/payments", Priority.CRITICAL)),
        trusted_networks=("127.0.0.0/8",),
    )
    shedder = Shedder(config, counter)
    shedder.monitor.ensure_running(asyncio.get_running_loop())
    shedder.monitor.last = 0.05
    return shedder


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request"}


async def _drop(message: Any) -> None:
    return None


def _exchange(path: str, headers: dict[bytes, bytes], client: str) -> Exchange:
    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "client": (client, 1)}
    return Exchange(scope, _no_body, _drop, headers, 0.0, asyncio.get_running_loop())


@pytest.mark.parametrize(
    ("path", "priority", "admitted"),
    [
        ("/reports", None, False),  # the route's priority: sheddable
        ("/reports", "critical", True),  # a trusted header overrides a route's priority
        ("/reports", "standard", True),
        ("/payments", None, True),
        ("/payments", "sheddable", False),  # downwards too
        ("/work", None, True),  # the default: standard
        ("/work", "sheddable", False),  # the header overrides the default
        ("/work", "CRITICAL", True),  # case does not matter
        ("/reports", "bogus", False),  # an unknown value leaves the route's priority
    ],
)
async def test_priority_by_route_and_header_decides_who_is_refused(
    path: str, priority: str | None, admitted: bool
) -> None:
    """Past the queue-delay target sheddable requests are refused; the route or a trusted
    caller's header sets the priority."""
    shedder = _shedder()
    try:
        headers = {b"x-priority": priority.encode()} if priority is not None else {}
        exchange = _exchange(path, headers, "127.0.0.1")
        if admitted:
            assert shedder.enter(exchange)
        else:
            with pytest.raises(Refused) as refused:
                shedder.enter(exchange)
            assert refused.value.answer[0] == 503
    finally:
        shedder.monitor.stop()


async def test_an_untrusted_critical_claim_is_shed_first() -> None:
    """The same header from outside the trusted networks does not escape shedding."""
    shedder = _shedder()
    try:
        claim = {b"x-priority": b"critical"}
        with pytest.raises(Refused):
            shedder.enter(_exchange("/work", claim, "203.0.113.9"))
        assert shedder.enter(_exchange("/work", claim, "127.0.0.1"))
    finally:
        shedder.monitor.stop()


@pytest.fixture(scope="module")
def held() -> Iterator[RunningServer]:
    """The priorities app, served for real."""
    with run_server("tests.apps.shed_priorities:app", cwd=REPO_ROOT) as server:
        yield server


def _refused_then_closed(server: RunningServer, request: bytes) -> tuple[int, dict[str, str], bool]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        status, headers, _ = read_response(sock)
        sock.settimeout(2)
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False  # still open, waiting for the rest of the body
    return status, headers, closed


def test_a_shed_request_with_an_unread_chunked_body_closes_its_connection(
    held: RunningServer,
) -> None:
    """A refused POST with a chunked body still unread: Connection: close, then EOF."""
    request = (
        b"POST /reports HTTP/1.1\r\nHost: t\r\nX-Request-Timeout: 0\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    )
    status, headers, closed = _refused_then_closed(held, request)
    assert status == 504
    assert headers.get("connection") == "close"
    assert closed


def test_a_shed_request_with_a_content_length_body_closes_its_connection(
    held: RunningServer,
) -> None:
    """A refused POST with a Content-Length body: Connection: close."""
    request = (
        b"POST /reports HTTP/1.1\r\nHost: t\r\nX-Request-Timeout: 0\r\nContent-Length: 10\r\n"
        b"\r\n01234"
    )
    status, headers, closed = _refused_then_closed(held, request)
    assert (status, headers.get("connection"), closed) == (504, "close", True)


def test_a_shed_request_without_a_body_keeps_its_connection(held: RunningServer) -> None:
    """With no close budget and no body, a refused keep-alive connection stays open for reuse."""
    with httpx.Client() as client:
        first = client.get(f"{held.url}/reports", headers={"X-Request-Timeout": "0"})
        second = client.get(f"{held.url}/work")
    assert first.status_code == 504
    assert "connection" not in first.headers
    assert second.status_code == 200
