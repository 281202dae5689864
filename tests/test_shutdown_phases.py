"""Phase order and bounds under `hardened run`: readiness, delay, refusal, force, watchdog."""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from hardened.shutdown import WATCHDOG_EXIT_CODE
from hardened.testing import run_server
from tests.apps.shutdown_support import events, reports, wait_for

DELAY = 2.0


def _connect(port: int) -> bool:
    """True when a new TCP connection is accepted, False when it is refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


def test_readiness_503_at_once_serves_during_delay_then_refuses(repo_root: Path) -> None:
    """/readyz turns 503 within 100 ms, /livez stays 200; served during D; then refused."""
    env = {"SHUTDOWN_DELAY": str(DELAY)}
    polls: list[tuple[float, int]] = []
    liveness: list[tuple[float, int]] = []
    stop = threading.Event()
    with run_server("tests.apps.shutdown_app:app", cwd=repo_root, env=env) as server:

        def poll_readiness() -> None:
            with httpx.Client(timeout=2) as client:
                for _ in range(3000):
                    if stop.is_set():
                        return
                    try:
                        status = client.get(f"{server.url}/readyz").status_code
                    except httpx.TransportError:
                        status = 0
                    polls.append((time.monotonic(), status))
                    try:
                        alive = client.get(f"{server.url}/livez").status_code
                    except httpx.TransportError:
                        alive = 0
                    liveness.append((time.monotonic(), alive))
                    time.sleep(0.01)

        in_flight: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: in_flight.append(httpx.get(f"{server.url}/slow?s=5", timeout=30))
        )
        slow.start()
        assert wait_for(lambda: httpx.get(f"{server.url}/stats").json()["entered"] >= 1)
        poller = threading.Thread(target=poll_readiness)
        poller.start()
        assert wait_for(lambda: len(polls) >= 5)
        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        assert wait_for(lambda: any(status == 503 for _, status in polls), timeout=10)
        during = httpx.get(f"{server.url}/hello", timeout=5)
        served_at = time.monotonic() - signalled
        gates = httpx.get(f"{server.admin_url}/gates", timeout=5).json()
        assert wait_for(lambda: not _connect(server.port), timeout=DELAY + 10)
        refused_at = time.monotonic() - signalled
        alive_when_refused = server.process.poll() is None
        stop.set()
        poller.join(timeout=10)
        slow.join(timeout=30)
        assert server.wait(timeout=30) == 0
    first_503 = next(t for t, status in polls if status == 503) - signalled
    after = [status for t, status in polls if t - signalled > first_503]
    assert first_503 < 0.1, f"readiness took {first_503:.3f}s to turn 503"
    assert 200 not in after, "readiness never turns back to 200"
    alive_in_drain = [status for t, status in liveness if t - signalled > first_503]
    assert 200 in alive_in_drain, "liveness was polled through the drain"
    assert set(alive_in_drain) <= {200, 0}, "liveness stays 200 until the listener closes"
    assert (during.status_code, during.headers["connection"]) == (200, "close")
    assert served_at < DELAY <= refused_at + 0.05
    assert alive_when_refused, "the listener closed while the drain still ran"
    assert [r.status_code for r in in_flight] == [200]
    live = next(g for g in gates["gates"] if g["name"] == "shutdown")["evidence"]
    assert live["last_shutdown"]["outcome"] == "in progress", "/gates shows the running drain"
    assert live["last_shutdown"]["in_flight_at_signal"] >= 1


def test_second_signal_skips_the_delay_and_forces_the_drain(repo_root: Path) -> None:
    """A second SIGTERM during the delay ends the process at once, cancelling what is left."""
    env = {"SHUTDOWN_DELAY": "20", "SHUTDOWN_DRAIN": "20"}
    with run_server("tests.apps.shutdown_app:app", cwd=repo_root, env=env) as server:
        answers: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: answers.append(httpx.get(f"{server.url}/slow?s=60", timeout=30))
        )
        slow.start()
        assert wait_for(lambda: httpx.get(f"{server.url}/stats").json()["entered"] >= 1)
        began = time.monotonic()
        server.signal(signal.SIGTERM)
        assert wait_for(lambda: httpx.get(f"{server.url}/readyz").status_code == 503)
        server.signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        took = time.monotonic() - began
        slow.join(timeout=10)
        output = server.output()
    report = reports(output)[-1]
    assert code == 0
    assert took < 10, "neither the 20 s delay nor the 20 s drain was waited for"
    assert (report["forced"], report["outcome"], report["cancelled"]) == (True, "forced", 1)
    assert [answer.status_code for answer in answers] == [503], "answered, not reset nor 500"
    cut = answers[0]
    assert cut.json()["type"].endswith("/shutdown-interrupted")
    assert (cut.headers["retry-after"], cut.headers["connection"]) == ("1", "close")


@pytest.mark.long_running
def test_stubborn_handler_and_hanging_teardown_are_bounded_and_the_watchdog_fires(
    repo_root: Path, tmp_path: Path
) -> None:
    """Drain timeout and per-step timeout bound them; the watchdog exits before the grace ends."""
    record = tmp_path / "events"
    grace, drain, step = 8.0, 2.0, 1.0
    env = {
        "SHUTDOWN_EVENTS": str(record),
        "SHUTDOWN_DELAY": "0",
        "SHUTDOWN_DRAIN": str(drain),
        "SHUTDOWN_GRACE": str(grace),
        "SHUTDOWN_STEP": str(step),
        "SHUTDOWN_TEARDOWN": "2.5",
        "SHUTDOWN_HANG": "cache",
    }
    with run_server("tests.apps.shutdown_app:app", cwd=repo_root, env=env) as server:
        outcome: list[object] = []

        def call() -> None:
            try:
                outcome.append(httpx.get(f"{server.url}/stubborn", timeout=30).status_code)
            except httpx.TransportError as exc:
                outcome.append(type(exc).__name__)

        client = threading.Thread(target=call)
        client.start()
        assert wait_for(lambda: httpx.get(f"{server.url}/stats").json()["entered"] >= 1)
        began = time.monotonic()
        server.signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        took = time.monotonic() - began
        client.join(timeout=10)
        output = server.output()
    assert code == WATCHDOG_EXIT_CODE
    assert grace - 1.0 - 0.5 <= took < grace, f"exited {took:.2f}s after SIGTERM"
    assert "shutdown watchdog" in output
    first, last = reports(output)[0], reports(output)[-1]
    assert drain <= first["phases"]["drain"] < drain + 2.0
    assert (first["cancelled"], first["dropped"], first["outcome"]) == (1, 1, "cut")
    steps = {s["component"].rsplit(".", 1)[-1]: s for s in first["teardown"]}
    assert steps["Cache"]["timed_out"]
    assert step - 0.05 <= steps["Cache"]["seconds"] < step + 1.0
    own = {"Processor", "Cache", "Database"}
    assert [name for name in steps if name in own] == [
        "Processor",
        "Cache",
        "Database",
    ]
    assert last["watchdog_fired"]
    assert last["outcome"] == "watchdog"
    recorded = events(record)
    assert "stubborn ignored a cancellation" in recorded
    assert recorded.index("hang cache") < recorded.index("stop database")
    assert "stop cache" not in recorded
    assert outcome
    assert outcome[0] != 200


def test_watchdog_fires_even_when_the_event_loop_is_blocked(
    repo_root: Path, tmp_path: Path
) -> None:
    """A handler that blocks the loop stops every task; the watchdog thread still exits in time."""
    record = tmp_path / "events"
    grace = 5.0
    env = {
        "SHUTDOWN_EVENTS": str(record),
        "SHUTDOWN_DELAY": "0",
        "SHUTDOWN_DRAIN": "1",
        "SHUTDOWN_GRACE": str(grace),
        "SHUTDOWN_STEP": "0.5",
        "SHUTDOWN_TEARDOWN": "0.5",
    }
    with run_server("tests.apps.shutdown_app:app", cwd=repo_root, env=env) as server:

        def call() -> None:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{server.url}/block", timeout=30)

        client = threading.Thread(target=call)
        client.start()
        assert wait_for(lambda: "blocking the loop" in events(record))
        began = time.monotonic()
        server.signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        took = time.monotonic() - began
        client.join(timeout=10)
        output = server.output()
    assert code == WATCHDOG_EXIT_CODE
    assert grace - 1.5 <= took < grace, f"exited {took:.2f}s after SIGTERM"
    last = reports(output)[-1]
    assert last["watchdog_fired"]
    assert last["in_flight_at_signal"] == 1
    assert "drain" not in last["phases"], "the loop never got to drain"


def test_keep_alive_connections_get_close_during_delay_and_idle_ones_close_at_drain(
    repo_root: Path,
) -> None:
    """A kept-alive client is told to close during D; an idle one is closed when D ends."""
    env = {"SHUTDOWN_DELAY": "1"}
    with run_server("tests.apps.shutdown_app:app", cwd=repo_root, env=env) as server:
        active = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for connection in (active, idle):
            connection.request("GET", "/hello")
            response = connection.getresponse()
            assert (response.status, response.getheader("connection")) == (200, None)
            response.read()
        server.signal(signal.SIGTERM)
        assert wait_for(lambda: httpx.get(f"{server.url}/readyz").status_code == 503)
        active.request("GET", "/hello")
        during = active.getresponse()
        assert (during.status, during.getheader("connection")) == (200, "close")
        during.read()
        assert idle.sock is not None
        began = time.monotonic()
        assert idle.sock.recv(1) == b"", "the server closed the idle keep-alive connection"
        closed_after = time.monotonic() - began
        assert server.wait(timeout=30) == 0
    assert closed_after < 10, "closed at the drain, not at the 65 s keep-alive timeout"
