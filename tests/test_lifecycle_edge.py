"""Edge limits under a real `hardened run` subprocess: body limit, slow clients, backpressure."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from hardened.testing import RunningServer, run_server
from tests._servers import healthy
from tests.conftest import REPO_ROOT

MiB = 1024 * 1024
APP = "tests.apps.edge_app:app"
PARSERS = ["h11", "httptools"]


@pytest.fixture(scope="module", params=PARSERS)
def module_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """The edge test app under `hardened run --http <parser>`, one process per module."""
    with run_server(APP, cwd=REPO_ROOT, args=["--http", request.param]) as running:
        yield running


@pytest.fixture
def shared_server(module_server: RunningServer) -> RunningServer:
    """The module's server, alive and idle: for tests that leave it as they found it (they
    count from what they read first, never from zero)."""
    return healthy(module_server)


EVENTS = "hardened_mechanism_events_total"
EDGE = 'kind="lifecycle",name="edge"'


def edge_evidence(server: RunningServer) -> dict[str, Any]:
    """The lifecycle gate's evidence, read on the admin listener."""
    evidence: dict[str, Any] = httpx.get(f"{server.admin_url}/gates").json()["gates"][0]["evidence"]
    return evidence


def edge_event(server: RunningServer, event: str) -> float:
    """The lifecycle edge's `event` counter, read from /metrics."""
    series = f'{EVENTS}{{event="{event}",{EDGE}}} '
    for line in httpx.get(f"{server.admin_url}/metrics").text.splitlines():
        if line.startswith(series):
            return float(line.removeprefix(series))
    raise AssertionError(f"no {series.strip()} in /metrics")


def read_response(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response (status, lower-case headers, body) from a raw socket."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the headers: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def wait_closed(sock: socket.socket, timeout: float) -> tuple[float, bytes]:
    """Seconds until the server closes `sock` (EOF or reset), and what it sent first."""
    began = time.monotonic()
    received = b""
    sock.settimeout(0.2)
    while time.monotonic() - began < timeout:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - began, received
        if not chunk:
            return time.monotonic() - began, received
        received += chunk
    raise AssertionError(f"still open after {timeout}s")


def test_runner_reports_what_it_put_in_force(shared_server: RunningServer) -> None:
    """Under `hardened run` the gate names the protocol class and the effective timeouts."""
    gate = httpx.get(f"{shared_server.admin_url}/gates").json()["gates"][0]
    slow = gate["evidence"]["slow_clients"]
    args = shared_server.process.args
    assert isinstance(args, list)
    protocol = {"h11": "HardenedH11Protocol", "httptools": "HardenedHttpToolsProtocol"}[args[-1]]
    assert slow["enforced_by"] == f"hardened run ({protocol})"
    assert slow["header_timeout_s"] == 1.0
    assert slow["body_timeout_s"] == 1.0
    assert gate["evidence"]["keep_alive"]["timeout_s"] == 65.0
    assert gate["evidence"]["signals"]["sigterm_handler"] == "HardenedServer.handle_exit"
    assert gate["status"] == "pass", gate["caveats"]


def test_websocket_outlives_the_header_and_body_timeouts(shared_server: RunningServer) -> None:
    """An upgraded connection belongs to the WebSocket protocol: idle 2.5 s, still open."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{shared_server.port}/echo", open_timeout=5) as ws:
        ws.send("first")
        assert ws.recv(timeout=5) == "FIRST"
        time.sleep(2.5)
        ws.send("second")
        assert ws.recv(timeout=5) == "SECOND"


def test_declared_oversize_body_gets_413_before_any_byte_is_read(
    shared_server: RunningServer,
) -> None:
    """Content-Length 10 MB against a 1 KiB limit: 413 + Connection: close, without the body."""
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        began = time.monotonic()
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 10485760\r\n\r\n"
        )
        status, headers, body = read_response(sock)
        elapsed = time.monotonic() - began
    assert status == 413
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/problem+json"
    assert b"10485760" in body
    assert elapsed < 2.0


def test_real_10mb_upload_reads_the_413_and_memory_stays_flat(shared_server: RunningServer) -> None:
    """An HTTP client pushing 10 MB gets the 413 (not a reset); server RSS does not grow."""
    payload = b"x" * (10 * MiB)
    process = psutil.Process(shared_server.pid)
    earlier = edge_evidence(shared_server)
    with httpx.Client(timeout=20) as client:
        first = client.post(f"{shared_server.url}/upload", content=payload)
        assert first.status_code == 413
        before = process.memory_info().rss
        for _ in range(3):
            answer = client.post(f"{shared_server.url}/upload", content=payload)
            assert answer.status_code == 413
            assert answer.headers["connection"] == "close"
        after = process.memory_info().rss
    assert after - before < 4 * MiB, (before, after)
    report = edge_evidence(shared_server)
    refused = report["body_limit"]["refused_by_content_length"]
    assert refused - earlier["body_limit"]["refused_by_content_length"] == 4
    lingered = report["slow_clients"]["lingering_closes"]
    assert lingered - earlier["slow_clients"]["lingering_closes"] >= 1


def test_client_that_writes_its_whole_body_first_still_reads_the_413(
    shared_server: RunningServer,
) -> None:
    """A naive client sends all 10 MB before reading: no reset, it reads 413 (lingering close)."""
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10485760\r\n\r\n"
            + b"x" * (10 * MiB)
        )
        status, headers, _ = read_response(sock)
    assert status == 413
    assert headers["connection"] == "close"


def _chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"y" * piece


def test_chunked_body_is_counted_and_stopped_at_the_limit(shared_server: RunningServer) -> None:
    """A chunked body over the limit gets 413 + Connection: close; under it, it is served."""
    stopped = edge_evidence(shared_server)["body_limit"]["stopped_while_streaming"]
    with httpx.Client(timeout=20) as client:
        over = client.post(f"{shared_server.url}/upload", content=_chunks(2 * MiB))
        assert over.status_code == 413
        assert over.headers["connection"] == "close"
        assert over.json()["type"].endswith("/body-too-large")
        under = client.post(f"{shared_server.url}/upload", content=_chunks(1000))
        assert under.json() == {"received": 1000}
        assert client.post(f"{shared_server.url}/upload", content=b"z" * 1024).status_code == 200
    report = edge_evidence(shared_server)
    assert report["body_limit"]["stopped_while_streaming"] - stopped == 1


def test_route_override_raises_the_limit_for_one_route(shared_server: RunningServer) -> None:
    """@body_limit(64 KiB) lets /big take 32 KiB; over 64 KiB it is refused too."""
    url = shared_server.url
    with httpx.Client(timeout=20) as client:
        assert client.post(f"{url}/big", content=b"b" * 32768).json() == {"received": 32768}
        assert client.post(f"{url}/big", content=_chunks(40000)).status_code == 200
        assert client.post(f"{url}/big", content=b"b" * 70000).status_code == 413
        assert client.post(f"{url}/upload", content=b"b" * 32768).status_code == 413


def test_header_trickling_client_gets_408_and_is_disconnected(shared_server: RunningServer) -> None:
    """Header bytes trickling in, unfinished at the 1 s header timeout: 408, then closed."""
    request_line = b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: "
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        began = time.monotonic()
        for index in range(0, len(request_line), 16):  # 3 byte groups 0.1 s apart, then quiet
            sock.sendall(request_line[index : index + 16])
            time.sleep(0.1)
        waited, received = wait_closed(sock, timeout=10)
        elapsed = time.monotonic() - began
    assert received.startswith(b"HTTP/1.1 408 Request Timeout"), received
    assert b"connection: close" in received.lower()
    assert 1.0 - 0.05 <= elapsed < 1.0 + 0.5, (elapsed, waited)  # the server times from accept


def test_silent_socket_is_closed(shared_server: RunningServer) -> None:
    """A connection that never sends a byte is closed after the header timeout."""
    closes = edge_event(shared_server, "header_timeout_closes")
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        elapsed, received = wait_closed(sock, timeout=10)
    assert 1.0 - 0.05 <= elapsed < 1.0 + 0.5
    assert received == b"", "a socket that sent nothing gets no answer, only the close"
    assert edge_event(shared_server, "header_timeout_closes") - closes == 1


def test_stalled_body_is_disconnected(shared_server: RunningServer) -> None:
    """Headers done, 10 of 100 body bytes, then silence: closed after the 1 s body timeout."""
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"0" * 10)
        elapsed, received = wait_closed(sock, timeout=10)
    assert 1.0 - 0.05 <= elapsed < 1.0 + 0.5
    assert received.startswith(b"HTTP/1.1 408 Request Timeout"), received


def in_flight(server: RunningServer) -> int:
    """Requests in flight, read from the lifecycle gate on the admin listener."""
    gate = httpx.get(f"{server.admin_url}/gates").json()["gates"][0]
    count: int = gate["evidence"]["backpressure"]["in_flight"]
    return count


def test_client_waiting_for_100_continue_is_not_a_stalled_body(
    shared_server: RunningServer,
) -> None:
    """Expect: 100-continue and a handler that reads after 2 s (body timeout 1 s): served."""
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /read-late?s=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        sock.settimeout(8)
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(b"hello")
        status, _, body = read_response(sock)
    assert status == 200
    assert body == b'{"received":5}'


def test_backpressure_503_with_retry_after_while_probes_answer(repo_root: Path) -> None:
    """2 requests in flight (the bound): the next gets 503 + Retry-After; probes stay 200."""
    with run_server(APP, cwd=repo_root) as server:
        results: list[int] = []

        def slow() -> None:
            results.append(httpx.get(f"{server.url}/slow?s=3", timeout=20).status_code)

        threads = [threading.Thread(target=slow) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while in_flight(server) < 2:
            assert time.monotonic() < deadline, "slow requests did not start"
            time.sleep(0.05)
        busy = httpx.get(f"{server.url}/hello")
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "3"
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert httpx.get(f"{server.url}/livez").status_code == 200
        for thread in threads:
            thread.join(timeout=20)
        assert results == [200, 200]
        assert httpx.get(f"{server.url}/hello").status_code == 200
        gate = httpx.get(f"{server.admin_url}/gates").json()["gates"][0]["evidence"]
        assert gate["backpressure"]["rejected"] >= 1
        assert gate["backpressure"]["peak_in_flight"] == 2
        metrics = httpx.get(f"{server.admin_url}/metrics").text
        assert f'{EVENTS}{{event="rejected_in_flight_limit",{EDGE}}} 1.0' in metrics
        assert f'hardened_mechanism_state{{field="in_flight_limit",{EDGE}}} 2.0' in metrics


def test_idle_keep_alive_connections_do_not_count_as_in_flight(
    shared_server: RunningServer,
) -> None:
    """Five idle keep-alive sockets with a bound of 2 in flight: new requests still pass."""
    sockets = []
    try:
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", shared_server.port), timeout=5)
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, _ = read_response(sock)
            assert status == 200
            assert headers.get("connection") != "close"
            sockets.append(sock)
        for _ in range(3):
            assert httpx.get(f"{shared_server.url}/hello").status_code == 200
    finally:
        for sock in sockets:
            sock.close()
