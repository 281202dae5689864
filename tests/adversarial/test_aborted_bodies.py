"""Clients that abort mid-body, or send a broken one, are the clients' faults: 499 / 400."""

from __future__ import annotations

import socket
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hardened.testing import RunningServer
from tests.adversarial._client import read_until_closed

ABORTS = 20


def _statuses(server: RunningServer) -> dict[str, float]:
    """status → requests counted on /upload."""
    metrics = httpx.get(f"{server.admin_url}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "http_server_requests_total":
                status = sample.labels["status"]
                found[status] = found.get(status, 0.0) + sample.value
    return found


def _wait_counted(server: RunningServer, count: int, timeout: float) -> dict[str, float]:
    """The status counts once `count` requests were counted (or `timeout` passed)."""
    deadline = time.monotonic() + timeout
    statuses = _statuses(server)
    while sum(statuses.values()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        statuses = _statuses(server)
    return statuses


def test_aborted_uploads_are_499_without_a_traceback(server: RunningServer) -> None:
    """20 clients close halfway through their body: no 500 series, no traceback logged."""
    for _ in range(ABORTS):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000
            )
            time.sleep(0.02)  # the handler is reading when the client goes
    statuses = _wait_counted(server, ABORTS, timeout=5.0)
    assert statuses.get("499") == ABORTS, statuses
    assert "500" not in statuses
    output = server.output()
    assert "Traceback" not in output
    assert "Exception in ASGI application" not in output


def test_a_malformed_chunked_body_is_a_400_in_the_metrics_too(server: RunningServer) -> None:
    """A bad chunk size mid-body: the client reads 400 and the metrics count a 400, not a 500."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
        )
        time.sleep(0.1)  # the handler has the first chunk and waits for more
        sock.sendall(b"zz-not-hex\r\n\r\n")
        received, closed = read_until_closed(sock, timeout=5.0)
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert closed
    statuses = _wait_counted(server, 1, timeout=5.0)
    assert statuses == {"400": 1.0}, statuses
    assert "Traceback" not in server.output()
