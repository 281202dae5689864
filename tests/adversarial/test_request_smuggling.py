"""Request smuggling shapes: each is answered 400 and the connection closed, on both parsers."""

from __future__ import annotations

import socket

import pytest

from hardened.testing import RunningServer
from tests.adversarial._client import read_until_closed

SHAPES = {
    "content-length with transfer-encoding": (
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    ),
    "differing duplicate content-length": (
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 26\r\n\r\n"
        b"helloGET /hello HTTP/1.1\r\n\r\n"
    ),
    "obs-fold on transfer-encoding": (
        b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"
    ),
    "bare LF line endings": b"GET /hello HTTP/1.1\nHost: t\n\n",
    "bare LF inside a CRLF head": b"GET /hello HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n",
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_smuggling_shape_gets_400_and_close(shared_server: RunningServer, shape: str) -> None:
    """An ambiguously framed request is refused with 400 and nothing after it is answered."""
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        sock.sendall(SHAPES[shape])
        received, closed = read_until_closed(sock, timeout=5.0)
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert received.count(b"HTTP/1.1 ") == 1, received  # the smuggled request was never served
    assert closed


def test_a_clean_pipelined_pair_is_still_served(shared_server: RunningServer) -> None:
    """The guard leaves well-framed keep-alive traffic alone: two pipelined GETs, two 200s."""
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
        received, closed = read_until_closed(sock, timeout=1.0)
    assert received.count(b"HTTP/1.1 200 OK") == 2, received
    assert not closed


@pytest.mark.parametrize("shape", list(SHAPES))
def test_smuggling_shape_behind_a_clean_request_is_refused(
    shared_server: RunningServer, shape: str
) -> None:
    """Pipelined after a clean GET: the bad request gets 400 and the connection closes; only
    the GET may be answered 200 (httptools, meeting both in one read, answers 400 at once)."""
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n" + SHAPES[shape])
        received, closed = read_until_closed(sock, timeout=5.0)
    assert b"HTTP/1.1 400 " in received, received[:300]
    assert received.count(b"HTTP/1.1 200 ") <= 1, received
    assert received.count(b"HTTP/1.1 ") <= 2, received
    assert closed
