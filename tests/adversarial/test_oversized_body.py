"""A body declared over the limit is refused before routing, yet counted on its route."""

from __future__ import annotations

import socket

import httpx

from hardened.lifecycle import LifecycleConfig
from hardened.testing import RunningServer
from tests.adversarial._client import read_until_closed

LIMIT = LifecycleConfig().max_body_bytes


def test_declared_oversize_413_is_labelled_with_its_route(server: RunningServer) -> None:
    """Content-Length over the limit on POST /upload: 413, and the series says /upload."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        head = b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1)
        sock.sendall(head)
        received, _ = read_until_closed(sock, timeout=5.0)
    assert received.startswith(b"HTTP/1.1 413 "), received[:200]
    metrics = httpx.get(f"{server.admin_url}/metrics", timeout=10).text
    assert 'http_server_requests_total{method="POST",route="/upload",status="413"} 1.0' in metrics
    assert 'route="__unmatched__",status="413"' not in metrics
