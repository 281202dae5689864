"""The admin listener under abuse: wrong methods, junk `Accept`, crowds of report readers."""

from __future__ import annotations

import asyncio
import signal
import statistics
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Message

from hardened import Service, endpoints
from hardened.endpoints import ADMIN_DUTY, ADMIN_QUEUE, AdminApp
from hardened.testing import RunningServer
from tests.adversarial._client import serve

READERS = 8


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/gates"), ("DELETE", "/metrics"), ("PUT", "/livez")]
)
def test_methods_other_than_get_and_head_get_405(
    shared_server: RunningServer, method: str, path: str
) -> None:
    """POST /gates, DELETE /metrics, PUT /livez: 405 with `Allow: GET, HEAD`."""
    answer = httpx.request(method, f"{shared_server.admin_url}{path}", timeout=10)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert httpx.head(f"{shared_server.admin_url}/gates", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text; version=abc",
        ";;;===,,,",
        "text/html, application/openmetrics-text; version=x.y",
    ],
)
def test_junk_accept_on_metrics_gets_the_text_format(
    shared_server: RunningServer, accept: str
) -> None:
    """An `Accept` prometheus-client cannot parse: 200 in the text format, not a 500."""
    answer = httpx.get(f"{shared_server.admin_url}/metrics", headers={"Accept": accept}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert any(
        f.name == "http_server_requests" for f in text_string_to_metric_families(answer.text)
    )


def test_refresh_rescans_the_wiring_once_asked(shared_server: RunningServer) -> None:
    """After start-up the module scan runs once; `/gates?refresh=1` runs it again."""

    def scan() -> dict[str, object]:
        gates = httpx.get(f"{shared_server.admin_url}/gates", timeout=10).json()["gates"]
        evidence: dict[str, object] = gates[1]["evidence"]["wiring_scan"]
        return evidence

    first = scan()
    assert first["cached"] is True
    assert scan()["scans"] == first["scans"]
    refreshed = httpx.get(f"{shared_server.admin_url}/gates?refresh=1", timeout=10).json()
    scans = refreshed["gates"][1]["evidence"]["wiring_scan"]["scans"]
    assert scans == first["scans"] + 1  # type: ignore[operator]


def _p50(url: str, count: int) -> float:
    """Median seconds of `count` sequential GETs on one keep-alive connection."""
    times = []
    with httpx.Client(timeout=10) as client:
        client.get(url)
        for _ in range(count):
            began = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append(time.perf_counter() - began)
    return statistics.median(times)


@pytest.mark.serial
def test_eight_report_readers_keep_the_public_p50_within_twice_idle(
    shared_server: RunningServer,
) -> None:
    """8 clients reading /gates in a loop: the public port's p50 stays within 2x of idle."""
    url = f"{shared_server.url}/hello"
    idle = _p50(url, 200)
    stop = threading.Event()
    reads: list[int] = []

    def read_reports() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set() and len(reads) < 10_000:  # bounded in count and time
                reads.append(client.get(f"{shared_server.admin_url}/gates").status_code)

    readers = [threading.Thread(target=read_reports) for _ in range(READERS)]
    for reader in readers:
        reader.start()
    try:
        time.sleep(0.3)
        loaded = _p50(url, 200)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    assert reads
    assert set(reads) <= {200, 503}
    assert READERS <= ADMIN_QUEUE  # so none of these readers is turned away
    assert loaded <= 2 * idle + 0.001, (idle, loaded)  # 1 ms floor: timer noise on idle


def test_sigterm_right_after_a_report_read_stops_cleanly(repo_root: Path) -> None:
    """The pause a render leaves before the next one is not held by the answered request: a
    SIGTERM just after a report read finds nothing to cancel (no traceback, exit 0)."""
    for running in serve("httptools", repo_root):
        # A rescan makes the render, and so the pause after it (9x the render), longer than
        # the whole shutdown sequence takes.
        answer = httpx.get(f"{running.admin_url}/gates?refresh=1", timeout=10)
        assert answer.status_code == 200
        running.signal(signal.SIGTERM)
        assert running.wait(timeout=30) == 0
        output = running.output()
        assert "Exception in ASGI application" not in output
        assert "Traceback" not in output


async def test_the_pause_after_a_render_delays_the_next_render_not_the_answered_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each render seems to take 0.2 s (a stepping clock): the request returns at once, and the
    next render waits out the pause (9 x 0.2 s) that the first one left."""
    ticks = iter(range(1000))
    step = 0.2
    monkeypatch.setattr(endpoints, "time", SimpleNamespace(monotonic=lambda: next(ticks) * step))
    admin = AdminApp(Service("admin-pause", routes=[]))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": []}
    pause = step * (1 / ADMIN_DUTY - 1)
    began = time.monotonic()
    await asyncio.wait_for(admin(scope, receive, send), timeout=pause / 2)
    assert sent[0]["status"] == 200
    second = asyncio.ensure_future(admin(scope, receive, send))
    await asyncio.sleep(pause / 2)
    assert not second.done()  # the duty cycle still holds
    await asyncio.wait_for(second, timeout=pause + 5)
    assert time.monotonic() - began >= pause
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200, 200]
