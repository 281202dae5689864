"""The drain under a real `hardened run` subprocess: 50 in-flight requests, both HTTP parsers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from hardened.testing import free_port, run_server
from tests.apps.shutdown_support import events, reports, wait_entered, wait_for

SLOW = 50


async def _fifty_slow_then_sigterm(url: str, server_signal: object) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=SLOW + 10, max_keepalive_connections=SLOW + 10)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        tasks = [asyncio.create_task(client.get(f"{url}/slow")) for _ in range(SLOW)]
        assert await wait_entered(client, url, SLOW) >= SLOW
        assert callable(server_signal)
        server_signal(signal.SIGTERM)
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 40)
    return [r for r in done if isinstance(r, httpx.Response)]


@pytest.mark.parametrize("parser", ["h11", "httptools"])
def test_fifty_in_flight_requests_all_complete_with_connection_close(
    repo_root: Path, parser: str
) -> None:
    """SIGTERM with 50 slow requests in flight: 50 x 200, each with Connection: close, exit 0."""
    with run_server(
        "tests.apps.shutdown_app:app", cwd=repo_root, args=["--http", parser]
    ) as server:
        responses = asyncio.run(_fifty_slow_then_sigterm(server.url, server.signal))
        assert server.wait(timeout=40) == 0
        output = server.output()
    assert len(responses) == SLOW, "every request got an answer: no reset, no timeout"
    assert [r.status_code for r in responses] == [200] * SLOW
    assert all(r.headers.get("connection") == "close" for r in responses)
    report = reports(output)[-1]
    assert report["in_flight_at_signal"] >= SLOW
    assert report["responses_completed"] >= SLOW
    assert (report["cancelled"], report["dropped"], report["outcome"]) == (0, 0, "clean")
    assert report["phase_starts"]["drain"] >= report["deregistration_delay_s"]


def test_stock_uvicorn_h11_sends_no_connection_close_on_in_flight_responses(
    repo_root: Path, tmp_path: Path
) -> None:
    """The baseline: stock uvicorn (h11) answers in-flight requests without the header."""
    port, release = free_port(), tmp_path / "release"
    log = tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "tests.apps.shutdown_app:app"]
    command += ["--http", "h11", "--port", str(port), "--lifespan", "on"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=repo_root,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SHUTDOWN_RELEASE": str(release)},
        )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _ready(url), timeout=30), log.read_text()

        async def scenario() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                tasks = [asyncio.create_task(client.get(f"{url}/held")) for _ in range(5)]
                assert await wait_entered(client, url, 5) >= 5
                process.send_signal(signal.SIGTERM)
                for _ in range(400):
                    if "Shutting down" in log.read_text():
                        break
                    await asyncio.sleep(0.05)
                release.touch()
                return list(await asyncio.wait_for(asyncio.gather(*tasks), 30))

        responses = asyncio.run(scenario())
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert [r.status_code for r in responses] == [200] * 5
    assert all("connection" not in r.headers for r in responses)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_teardown_runs_in_reverse_start_order_after_workers_stop(
    repo_root: Path, tmp_path: Path
) -> None:
    """Three components start A, B, C and stop C, B, A; the worker stops pulling before them."""
    record = tmp_path / "events"
    env = {"SHUTDOWN_EVENTS": str(record), "SHUTDOWN_DELAY": "0"}
    with run_server("tests.apps.shutdown_app:app", cwd=repo_root, env=env) as server:
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        output = server.output()
    lines = [line for line in events(record) if not line.startswith("worker requeued")]
    assert lines[:3] == ["start database", "start cache", "start processor"]
    assert lines[-3:] == ["stop processor", "stop cache", "stop database"]
    assert any(line.startswith("worker stopped pulling") for line in lines[3:-3])
    report = reports(output)[-1]
    stopped = [step["component"].rsplit(".", 1)[-1] for step in report["teardown"]]
    # The loop monitor and its offload pool start first (registered by Service), so stop last.
    assert stopped == [
        "BackgroundTasks",
        "Processor",
        "Cache",
        "Database",
        "Offloader",
        "LoopMonitor",
    ]
    assert report["background"]["cancelled"] == 0


def test_streams_are_told_to_finish_when_the_drain_begins(repo_root: Path) -> None:
    """An open SSE stream ends cleanly with a retry hint at the drain, not at the timeout."""
    env = {"SHUTDOWN_DELAY": "0.5"}
    with run_server("tests.apps.shutdown_app:app", cwd=repo_root, env=env) as server:
        chunks: list[str] = []
        began = 0.0
        with httpx.stream("GET", f"{server.url}/events", timeout=30) as response:
            for chunk in response.iter_text():
                chunks.append(chunk)
                if len(chunks) == 3:
                    server.signal(signal.SIGTERM)
                    began = time.monotonic()
        ended = time.monotonic() - began
        assert server.wait(timeout=30) == 0
        output = server.output()
    body = "".join(chunks)
    assert body.rstrip().endswith("retry: 1000\ndata: bye")
    assert ended < 10.0, "the stream ended at the drain, well before the drain timeout"
    report = reports(output)[-1]
    assert report["streams_at_drain"] == 1
    assert (report["cancelled"], report["outcome"]) == (0, "clean")


def test_websockets_are_closed_with_1012_at_the_drain(repo_root: Path, tmp_path: Path) -> None:
    """An open WebSocket gets close code 1012 (service restart) when the listeners close."""
    record = tmp_path / "events"
    env = {"SHUTDOWN_DELAY": "0.5", "SHUTDOWN_EVENTS": str(record)}
    with run_server("tests.apps.shutdown_app:app", cwd=repo_root, env=env) as server:
        url = f"ws://127.0.0.1:{server.port}/socket"
        with connect(url, open_timeout=10) as websocket:
            assert websocket.recv(timeout=10) == "hello"
            server.signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                websocket.recv(timeout=20)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012
        assert server.wait(timeout=30) == 0
    assert "websocket closed 1012" in events(record)
