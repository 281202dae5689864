"""Overload through real `hardened run` processes: refuse only when saturated, trust no claim."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hardened.testing import free_port, run_server
from tests.apps.shed_overload import SECRET

# These judge the shedder by the queue delay its own process sees: no other test runs beside them.
pytestmark = pytest.mark.serial

APP = "tests.apps.shed_overload:app"


def _shed_rejections(metrics: str) -> float:
    """The shedder's refusals, all reasons and priorities, from a /metrics scrape."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "http_server_shed_rejected"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


async def _get(port: int, path: str, limit: float) -> tuple[int, bytes]:
    """One request on a new connection: (status, body); (0, b"") on a timeout or reset."""
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".encode()
                )
                data = await reader.read(-1)
            finally:
                writer.close()
    except (TimeoutError, OSError):
        return 0, b""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def _slow_and_fast(port: int, slow: int, sleep: float) -> tuple[list[int], list[int]]:
    """`slow` requests awaiting `sleep` s, started over 0.5 s, beside 1 s of fast requests."""
    for _ in range(30):  # warm-up: the service has seen traffic before
        assert (await _get(port, "/fast", 5.0))[0] == 200
    slows = []
    for i in range(slow):
        slows.append(asyncio.create_task(_get(port, f"/slow?s={sleep}", sleep + 20)))
        if i % 4 == 3:
            await asyncio.sleep(0.5 * 4 / slow)
    fast = [await _get(port, "/fast", 5.0) for _ in range(50)]
    answers = await asyncio.gather(*slows)
    return [s for s, _ in answers], [s for s, _ in fast]


def test_requests_awaiting_a_slow_upstream_are_never_refused(repo_root: Path) -> None:
    """200 requests awaiting a 3 s sleep, CPU idle, plus a fast stream: 0 refused."""
    with run_server(APP, cwd=repo_root) as server:
        slow, fast = asyncio.run(_slow_and_fast(server.port, 200, 3.0))
        evidence = httpx.get(f"{server.admin_url}/gates").json()
    assert slow == [200] * 200
    assert fast == [200] * 50
    shed = next(g for g in evidence["gates"] if g["name"] == "observe")["evidence"]["shed"]
    assert shed["rejected_total"] == 0
    assert shed["signal"] == "queue_delay"


def test_two_thousand_awaiting_meet_only_the_lifecycle_bound(repo_root: Path) -> None:
    """2,000 requests awaiting an 8 s sleep: the lifecycle bound (500 in flight) refuses, with
    its own reason; the shedder refuses none."""
    with run_server(APP, cwd=repo_root) as server:
        port = server.port

        async def drive() -> list[tuple[int, bytes]]:
            for _ in range(30):
                await _get(port, "/fast", 5.0)
            tasks = []
            for i in range(2000):  # started over about 4 s: all await at once, CPU not saturated
                tasks.append(asyncio.create_task(_get(port, "/slow?s=8", 30.0)))
                if i % 10 == 9:
                    await asyncio.sleep(0.02)
            return list(await asyncio.gather(*tasks))

        answers = asyncio.run(drive())
        metrics = httpx.get(f"{server.admin_url}/metrics").text
    statuses = [s for s, _ in answers]
    assert statuses.count(200) >= 500
    refused = [body for status, body in answers if status == 503]
    assert len(refused) + statuses.count(200) == 2000, set(statuses)
    assert len(refused) >= 1000
    reasons = {body for body in refused if b"more than 500 requests in flight" not in body}
    assert not reasons, reasons
    assert _shed_rejections(metrics) == 0


async def _attack(
    url: str, seconds: float, attacker_headers: dict[str, str]
) -> tuple[list[int], list[int]]:
    """An attacker at 150 rps of 20 ms CPU (3x capacity) beside a victim at 10 rps, both
    keep-alive; (attacker statuses, victim statuses), 0 for a client timeout."""
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=5.0) as client:

        async def one(headers: dict[str, str]) -> int:
            try:
                return (await client.get("/cpu?ms=20", headers=headers)).status_code
            except httpx.TimeoutException:
                return 0

        await asyncio.gather(*(one({}) for _ in range(40)))  # open the connections
        attacker, victim = [], []
        start = time.perf_counter()
        for tick in range(int(seconds * 150)):
            await asyncio.sleep(max(0.0, start + tick / 150 - time.perf_counter()))
            attacker.append(asyncio.create_task(one(attacker_headers)))
            if tick % 15 == 0:
                victim.append(asyncio.create_task(one({})))
        return list(await asyncio.gather(*attacker)), list(await asyncio.gather(*victim))


def test_an_untrusted_critical_claim_is_shed_like_sheddable_traffic(repo_root: Path) -> None:
    """At 3x CPU overload an attacker claiming `critical` is shed; the victim keeps ≥ 90 %."""
    with run_server(APP, cwd=repo_root) as server:
        attacker, victim = asyncio.run(_attack(server.url, 5.0, {"x-priority": "critical"}))
        shed = httpx.get(f"{server.admin_url}/gates").json()
    assert victim.count(200) >= 0.9 * len(victim), victim
    assert attacker.count(200) <= 0.5 * len(attacker)
    assert 0 not in victim
    evidence = next(g for g in shed["gates"] if g["name"] == "observe")["evidence"]["shed"]
    assert evidence["priority_header_trusted_from"] == "secret"
    assert evidence["priority_claims_ignored_total"] >= len(attacker)
    assert evidence["priority_claims_honoured_total"] == 0


def test_a_trusted_critical_claim_holds(repo_root: Path) -> None:
    """The same load with the gateway's secret (or from a trusted network): the claim holds,
    critical traffic is served first and the unclaimed victim is the one shed."""
    headers = {"x-priority": "critical", "x-gateway-secret": SECRET}
    with run_server(APP, cwd=repo_root) as server:
        attacker, victim = asyncio.run(_attack(server.url, 5.0, headers))
        by_secret = httpx.get(f"{server.admin_url}/gates").json()
    assert attacker.count(200) / len(attacker) > victim.count(200) / len(victim)
    assert victim.count(200) < 0.9 * len(victim)
    evidence = next(g for g in by_secret["gates"] if g["name"] == "observe")["evidence"]["shed"]
    answered = [status for status in attacker if status]  # 0: the client gave up first
    assert evidence["priority_claims_honoured_total"] >= len(answered) > 0
    with run_server(APP, cwd=repo_root, env={"SHED_TRUSTED_NETWORKS": "127.0.0.0/8"}) as server:
        attacker, victim = asyncio.run(_attack(server.url, 3.0, {"x-priority": "critical"}))
        by_network = httpx.get(f"{server.admin_url}/gates").json()
    evidence = next(g for g in by_network["gates"] if g["name"] == "observe")["evidence"]["shed"]
    assert evidence["priority_header_trusted_from"] == "networks or secret"
    answered = [status for status in attacker if status]
    assert evidence["priority_claims_honoured_total"] >= len(answered) > 0
    assert victim.count(200) < 0.9 * len(victim)


async def _capacity(port: int, seconds: float) -> float:
    """Requests per second of /cpu?ms=20 served to one closed-loop keep-alive client (the
    handler's rate: no queue, so nothing for the shedder to refuse)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
        done = 0
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                done += (await client.get("/cpu?ms=20")).status_code == 200

        start = time.perf_counter()
        await worker()
        return done / (time.perf_counter() - start)


async def _probe(port: int, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    status, _ = await _get(port, path, 1.0)
    return status, time.perf_counter() - started


def test_connection_per_request_overload_keeps_goodput_and_probes(repo_root: Path) -> None:
    """3x overload with a new connection per request (client timeout 1 s): goodput ≥ 80 % of
    capacity, the probe port's /livez and /readyz answer within 1 s throughout, and a second
    after the overload a new connection is served at once (no backlog outlives it)."""
    probe_port = free_port()
    with run_server(APP, cwd=repo_root, args=["--probe-port", str(probe_port)]) as server:
        port = server.port

        async def drive() -> tuple[float, list[int], list[tuple[int, float]], float]:
            capacity = await _capacity(port, 2.0)
            rate, seconds = 3 * capacity, 5.0
            probes: list[tuple[int, float]] = []
            stop = asyncio.Event()

            async def prober() -> None:
                while not stop.is_set():  # bounded by the overload's duration
                    probes.append(await _probe(probe_port, "/livez"))
                    probes.append(await _probe(probe_port, "/readyz"))
                    await asyncio.sleep(0.1)

            probing = asyncio.create_task(prober())
            tasks = []
            start = time.perf_counter()
            for tick in range(int(rate * seconds)):
                await asyncio.sleep(max(0.0, start + tick / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(_get(port, "/cpu?ms=20", 1.0)))
            await asyncio.sleep(max(0.0, start + seconds + 1.0 - time.perf_counter()))
            after = await _probe(port, "/fast")
            stop.set()
            await probing
            statuses = [s for s, _ in await asyncio.gather(*tasks)]
            assert after[0] == 200
            return capacity, statuses, probes, after[1]

        capacity, statuses, probes, after = asyncio.run(drive())
    goodput = statuses.count(200) / 5.0
    assert goodput >= 0.8 * capacity, (goodput, capacity, {s: statuses.count(s) for s in statuses})
    assert len(probes) >= 10
    assert all(status == 200 and took < 1.0 for status, took in probes), probes
    assert after < 0.5


def _requests_seen(metrics: str) -> float:
    """Every request the edge saw (served or refused), from a /metrics scrape."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "http_server_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def test_a_request_whose_client_left_while_queued_is_not_served(repo_root: Path) -> None:
    """A request queued in the accept queue past 0.5 s whose client closed never reaches the
    application: neither served nor refused, only the request holding the loop is counted."""
    with run_server(APP, cwd=repo_root) as server:
        port = server.port

        async def drive() -> None:
            block = asyncio.create_task(_get(port, "/cpu?ms=1500", 10.0))  # holds the loop
            await asyncio.sleep(0.3)
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /count HTTP/1.1\r\nhost: t\r\n\r\n")
            await writer.drain()
            writer.close()  # the client gives up while its request waits for accept
            assert (await block)[0] == 200
            await asyncio.sleep(0.5)  # the loop has accepted (and dropped) it by now

        asyncio.run(drive())
        metrics = httpx.get(f"{server.admin_url}/metrics").text
    assert _requests_seen(metrics) == 1
