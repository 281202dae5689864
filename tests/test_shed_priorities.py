"""Priorities through a real server: by route prefix, overridden by the header; closes on a body."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from hardened.testing import RunningServer, run_server
from tests.conftest import REPO_ROOT
from tests.test_lifecycle_edge import read_response

INFLIGHT = 'hardened_mechanism_state{field="inflight",kind="shed",name="edge"}'


def _inflight(server: RunningServer) -> float:
    for line in httpx.get(f"{server.admin_url}/metrics").text.splitlines():
        if line.startswith(INFLIGHT):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("the shedder publishes no in-flight count")


@pytest.fixture(scope="module")
def held() -> Iterator[RunningServer]:
    """The priorities app with one request held in flight (sheddable refused, standard not)."""
    with run_server("tests.apps.shed_priorities:app", cwd=REPO_ROOT) as server:
        assert httpx.get(f"{server.url}/reports").status_code == 200, "nothing is held yet"
        holder = threading.Thread(
            target=httpx.get, args=(f"{server.url}/hold",), kwargs={"timeout": 30}
        )
        holder.start()
        deadline = time.monotonic() + 10
        while _inflight(server) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _inflight(server) == 1
        yield server
        httpx.get(f"{server.url}/release")
        holder.join(timeout=10)


@pytest.mark.parametrize(
    ("path", "priority", "status"),
    [
        ("/reports", None, 503),  # the route's priority: sheddable
        ("/reports", "critical", 200),  # the header overrides a route's priority
        ("/reports", "standard", 200),
        ("/payments", None, 200),
        ("/payments", "sheddable", 503),  # downwards too
        ("/work", None, 200),  # the default: standard
        ("/work", "sheddable", 503),  # the header overrides the default
        ("/work", "CRITICAL", 200),  # case does not matter
        ("/reports", "bogus", 503),  # an unknown value leaves the route's priority
    ],
)
def test_priority_by_route_and_header_decides_who_is_refused(
    held: RunningServer, path: str, priority: str | None, status: int
) -> None:
    """At 1 of 2 in flight sheddable requests are refused; route or header sets the priority."""
    headers = {"x-priority": priority} if priority is not None else {}
    assert httpx.get(f"{held.url}{path}", headers=headers).status_code == status


def test_refusals_are_counted_by_the_priority_they_were_given(held: RunningServer) -> None:
    """A refusal of /reports is counted as sheddable, of a critical-headed request never."""
    httpx.get(f"{held.url}/reports")
    metrics = httpx.get(f"{held.admin_url}/metrics").text
    assert 'http_server_shed_rejected_total{priority="sheddable",reason="limit"}' in metrics
    assert 'http_server_shed_rejected_total{priority="critical",reason="limit"} 0.0' in metrics


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
    """A refused POST with a chunked body still unread: 503 with Connection: close, then EOF."""
    request = (
        b"POST /reports HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    )
    status, headers, closed = _refused_then_closed(held, request)
    assert status == 503
    assert headers.get("connection") == "close"
    assert closed


def test_a_shed_request_with_a_content_length_body_closes_its_connection(
    held: RunningServer,
) -> None:
    """A refused POST with a Content-Length body: 503 with Connection: close."""
    request = b"POST /reports HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234"
    status, headers, closed = _refused_then_closed(held, request)
    assert (status, headers.get("connection"), closed) == (503, "close", True)


def test_a_shed_request_without_a_body_keeps_its_connection(held: RunningServer) -> None:
    """With no close budget and no body, a refused keep-alive connection stays open for reuse."""
    with httpx.Client() as client:
        first = client.get(f"{held.url}/reports")
        second = client.get(f"{held.url}/work")
    assert first.status_code == 503
    assert "connection" not in first.headers
    assert second.status_code == 200
