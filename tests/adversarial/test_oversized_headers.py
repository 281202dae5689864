"""Oversized request heads: 431 and close on both parsers, with the server's memory flat."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from hardened.lifecycle import HeaderLimits
from hardened.testing import RunningServer, run_server
from tests.adversarial._client import PARSERS, read_until_closed

MiB = 1024 * 1024
LIMITS = HeaderLimits()


def _send_head(port: int, head: bytes, total: int) -> tuple[bytes, int]:
    """Send a request line, then header lines from `head` until `total` bytes went out or the
    server stopped taking them; what the server answered, and how many bytes went out."""
    answer: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        reader = threading.Thread(
            target=lambda: answer.append(read_until_closed(sock, timeout=30.0)[0])
        )
        reader.start()
        sent = 0
        try:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
            while sent < total:
                sock.sendall(head)
                sent += len(head)
        except OSError:
            pass  # the server closed: what it said is what counts
        reader.join(timeout=35)
    return (answer[0] if answer else b""), sent


def test_100mb_of_headers_get_431_and_memory_stays_flat(shared_server: RunningServer) -> None:
    """100 MB of header lines on one connection: 431 + close; RSS grows less than 16 MiB."""
    process = psutil.Process(shared_server.pid)
    before = process.memory_info().rss
    lines = b"".join(b"X-Filler-%05d: %s\r\n" % (i, b"a" * 1000) for i in range(64))
    answer, sent = _send_head(shared_server.port, lines, 100 * 1000 * 1000)
    after = process.memory_info().rss
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"connection: close" in answer.lower()
    assert after - before < 16 * MiB, (before, after, sent)
    assert httpx.get(f"{shared_server.url}/hello").status_code == 200  # the service is unharmed


def test_one_endless_header_line_gets_431(shared_server: RunningServer) -> None:
    """A single header line longer than the per-line bound is refused with 431."""
    answer, _ = _send_head(shared_server.port, b"X-Long: " + b"b" * (LIMITS.max_line_bytes + 1), 1)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_too_many_small_fields_get_431(shared_server: RunningServer) -> None:
    """More header fields than the bound, each tiny, are refused with 431."""
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(LIMITS.max_fields + 1))
    answer, _ = _send_head(shared_server.port, fields + b"\r\n", 1)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_head_just_under_the_bounds_is_served(shared_server: RunningServer) -> None:
    """90 fields of 600 bytes (54 KB) are within the bounds: the request is answered 200."""
    fields = b"".join(b"X-%02d: %s\r\n" % (i, b"c" * 600) for i in range(90))
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + fields + b"\r\n")
        received, closed = read_until_closed(sock, timeout=5.0)
    assert received.startswith(b"HTTP/1.1 200 "), received[:200]
    assert closed
    assert time.monotonic() - began < 5.0


@pytest.mark.parametrize("parser", PARSERS)
def test_configured_header_limits_are_in_force_and_reported(parser: str, repo_root: Path) -> None:
    """`LifecycleConfig(header_limits=...)` at 4 KiB: a 5 KB head gets 431; the gate says 4096."""
    app = "tests.apps.hostile:tight"
    with run_server(app, cwd=repo_root, args=["--http", parser]) as server:
        small = b"Connection: close\r\n" + b"".join(
            b"X-%d: %s\r\n" % (i, b"d" * 100) for i in range(10)
        )
        assert _send_head(server.port, small + b"\r\n", 1)[0].startswith(b"HTTP/1.1 200 ")
        big = b"".join(b"X-%d: %s\r\n" % (i, b"d" * 250) for i in range(19))
        assert _send_head(server.port, big + b"\r\n", 1)[0].startswith(b"HTTP/1.1 431 ")
        gate = httpx.get(f"{server.admin_url}/gates", timeout=10).json()["gates"][0]
    limits = gate["evidence"]["slow_clients"]["header_limits"]
    assert limits["max_total_bytes"] == 4096
    assert gate["evidence"]["slow_clients"]["refused_heads"] == 1
