"""A client slower than the budget with its body gets 408 (its fault), not 504 (ours)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardened.testing import RunningServer, run_server
from tests.adversarial._client import PARSERS, read_until_closed
from tests.apps.hostile import BRIEF_BUDGET as BUDGET


@pytest.fixture(params=PARSERS)
def server(request: pytest.FixtureRequest, repo_root: Path) -> Iterator[RunningServer]:
    """The hostile app's upload route with a 2 s budget, on each parser."""
    app = "tests.apps.hostile:brief"
    with run_server(app, cwd=repo_root, args=["--http", request.param]) as running:
        yield running


def _trickle(port: int, results: dict[str, tuple[bytes, float]]) -> None:
    """One body byte a second against a Content-Length of 100."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        began = time.monotonic()
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        sock.settimeout(1.0)
        for _ in range(int(BUDGET) + 5):  # bounded: the budget plus a margin
            try:
                sock.sendall(b"x")
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            received, _ = read_until_closed(sock, timeout=2.0)
            results["trickle"] = (data + received, time.monotonic() - began)
            return


def _expect_without_body(port: int, results: dict[str, tuple[bytes, float]]) -> None:
    """`Expect: 100-continue`, then never a body byte."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        began = time.monotonic()
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        received, _ = read_until_closed(sock, timeout=BUDGET + 5)
        results["expect"] = (received, time.monotonic() - began)


def test_a_one_byte_a_second_body_gets_408_at_the_budget(server: RunningServer) -> None:
    """1 byte/s and an `Expect: 100-continue` never followed: both 408 once the budget is out."""
    results: dict[str, tuple[bytes, float]] = {}
    threads = [
        threading.Thread(target=_trickle, args=(server.port, results)),
        threading.Thread(target=_expect_without_body, args=(server.port, results)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BUDGET + 15)
    for name in ("trickle", "expect"):
        answer, elapsed = results[name]
        final = answer.split(b"HTTP/1.1 100 Continue\r\n\r\n")[-1]
        assert final.startswith(b"HTTP/1.1 408 "), (name, answer[:300])
        assert b"connection: close" in final.lower()
        assert BUDGET * 0.9 <= elapsed <= BUDGET + 5, (name, elapsed)
