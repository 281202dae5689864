"""The admin listener under abuse: wrong methods, junk `Accept`, crowds of report readers."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hardened.endpoints import ADMIN_QUEUE
from hardened.testing import RunningServer

READERS = 8


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/gates"), ("DELETE", "/metrics"), ("PUT", "/livez")]
)
def test_methods_other_than_get_and_head_get_405(
    server: RunningServer, method: str, path: str
) -> None:
    """POST /gates, DELETE /metrics, PUT /livez: 405 with `Allow: GET, HEAD`."""
    answer = httpx.request(method, f"{server.admin_url}{path}", timeout=10)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert httpx.head(f"{server.admin_url}/gates", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text; version=abc",
        ";;;===,,,",
        "text/html, application/openmetrics-text; version=x.y",
    ],
)
def test_junk_accept_on_metrics_gets_the_text_format(server: RunningServer, accept: str) -> None:
    """An `Accept` prometheus-client cannot parse: 200 in the text format, not a 500."""
    answer = httpx.get(f"{server.admin_url}/metrics", headers={"Accept": accept}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert any(
        f.name == "http_server_requests" for f in text_string_to_metric_families(answer.text)
    )


def test_refresh_rescans_the_wiring_once_asked(server: RunningServer) -> None:
    """After start-up the module scan runs once; `/gates?refresh=1` runs it again."""

    def scan() -> dict[str, object]:
        gates = httpx.get(f"{server.admin_url}/gates", timeout=10).json()["gates"]
        evidence: dict[str, object] = gates[1]["evidence"]["wiring_scan"]
        return evidence

    first = scan()
    assert first["cached"] is True
    assert scan()["scans"] == first["scans"]
    refreshed = httpx.get(f"{server.admin_url}/gates?refresh=1", timeout=10).json()
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


def test_eight_report_readers_keep_the_public_p50_within_twice_idle(
    server: RunningServer,
) -> None:
    """8 clients reading /gates in a loop: the public port's p50 stays within 2x of idle."""
    url = f"{server.url}/hello"
    idle = _p50(url, 200)
    stop = threading.Event()
    reads: list[int] = []

    def read_reports() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set() and len(reads) < 10_000:  # bounded in count and time
                reads.append(client.get(f"{server.admin_url}/gates").status_code)

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
