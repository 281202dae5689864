"""A real dependency on loopback: the breaker opens and recovers, hangs are cut, bulkheads isolate.

Two `hardened run` processes: `tests.apps.breaker_flaky` (fault knobs) and
`tests.apps.breaker_caller`, whose `flaky` dependency has a 0.5 s attempt timeout, a 2 s
window of at least 10 calls, 1 s open, 2 probes and a bulkhead of 4 (50 ms wait).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hardened.testing import RunningServer, run_server

CIRCUIT_OPEN = "https://hardened.dev/problems/circuit-open"
BULKHEAD_FULL = "https://hardened.dev/problems/bulkhead-full"
ATTEMPT_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[RunningServer, RunningServer]]:
    """The flaky dependency and its caller, shared by this module's tests."""
    root = Path(request.config.rootpath)
    with (
        run_server("tests.apps.breaker_flaky:app", cwd=root) as flaky,
        run_server(
            "tests.apps.breaker_caller:app", cwd=root, env={"FLAKY_URL": flaky.url}
        ) as caller,
    ):
        yield flaky, caller


@pytest.fixture
def flaky(servers: tuple[RunningServer, RunningServer]) -> Iterator[RunningServer]:
    """The dependency, healthy again after each test, its caller's breaker closed."""
    yield servers[0]
    faults(servers[0], status=200, latency_s=0.0, hang=False)
    httpx.post(f"{servers[1].url}/breaker/reset").raise_for_status()


@pytest.fixture
def caller(servers: tuple[RunningServer, RunningServer]) -> RunningServer:
    return servers[1]


def faults(server: RunningServer, **knobs: Any) -> None:
    httpx.post(f"{server.url}/faults", json=knobs).raise_for_status()


def breaker_gate(caller: RunningServer) -> dict[str, Any]:
    gates = httpx.get(f"{caller.admin_url}/gates").json()["gates"]
    gate: dict[str, Any] = next(g for g in gates if g["name"] == "breaker")
    return gate


def flaky_state(caller: RunningServer) -> str:
    dependencies = breaker_gate(caller)["evidence"]["dependencies"]
    state: str = next(d for d in dependencies if d["name"] == "flaky")["breaker"]["state"]
    return state


def problem(answer: httpx.Response) -> str:
    if answer.headers.get("content-type") != "application/problem+json":
        return ""
    kind: str = answer.json()["type"]
    return kind


async def test_failing_dependency_opens_the_breaker_then_recovers(
    flaky: RunningServer, caller: RunningServer
) -> None:
    """500s in 0.3 s open it: fast 503 + Retry-After, ready, degraded; healthy again closes it."""
    faults(flaky, status=500, latency_s=0.3)
    async with httpx.AsyncClient(base_url=caller.url, timeout=10) as client:
        for _ in range(12):
            batch = await asyncio.gather(*(client.get("/flaky") for _ in range(4)))
            if any(problem(answer) == CIRCUIT_OPEN for answer in batch):
                break
        else:
            pytest.fail("the breaker did not open within 12 batches of failing calls")
        work_before = (await client.get(f"{flaky.url}/counts")).json()["work"]
        began = time.monotonic()
        answer = await client.get("/flaky")
        elapsed = time.monotonic() - began
        assert problem(answer) == CIRCUIT_OPEN
        assert answer.status_code == 503
        assert 1 <= int(answer.headers["retry-after"]) <= 2
        assert elapsed < 0.3, "rejected without waiting for the failing dependency"
        assert (await client.get(f"{flaky.url}/counts")).json()["work"] == work_before
        assert (await client.get("/readyz")).status_code == 200
    gate = breaker_gate(caller)
    assert gate["status"] == "warn"
    assert any("degraded: flaky breaker is open" in caveat for caveat in gate["caveats"])

    faults(flaky, status=200, latency_s=0.0)
    statuses: list[int] = []
    deadline = time.monotonic() + 5.0
    async with httpx.AsyncClient(base_url=caller.url, timeout=10) as client:
        while time.monotonic() < deadline and statuses[-2:] != [200, 200]:
            statuses.append((await client.get("/flaky")).status_code)
            await asyncio.sleep(0.1)
    assert statuses[-2:] == [200, 200]
    assert flaky_state(caller) == "closed"
    assert breaker_gate(caller)["status"] == "pass"


def test_a_hanging_dependency_is_cut_at_the_attempt_timeout(
    flaky: RunningServer, caller: RunningServer
) -> None:
    """A POST (no key, so no retry) to a hanging dependency ends after 0.5 s, not 10 s."""
    faults(flaky, hang=True)
    began = time.monotonic()
    answer = httpx.get(f"{caller.url}/flaky", params={"method": "POST"}, timeout=10)
    elapsed = time.monotonic() - began
    assert answer.status_code == 504
    assert "within 0.5 s" in answer.text
    assert ATTEMPT_TIMEOUT <= elapsed < ATTEMPT_TIMEOUT + 0.25


async def latencies(client: httpx.AsyncClient, path: str, count: int) -> list[float]:
    taken = []
    for _ in range(count):
        began = time.monotonic()
        answer = await client.get(path)
        taken.append(time.monotonic() - began)
        assert answer.status_code == 200, answer.text
    return taken


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def test_a_hanging_dependency_keeps_to_its_bulkhead(
    flaky: RunningServer, caller: RunningServer
) -> None:
    """40 calls into a hang hold 4 slots; the rest get 503 fast; other calls keep their p99."""
    async with (
        httpx.AsyncClient(base_url=caller.url, timeout=10) as load,
        httpx.AsyncClient(base_url=caller.url, timeout=10) as probe,
    ):
        before = {path: await latencies(probe, path, 40) for path in ("/steady", "/local")}
        faults(flaky, hang=True)
        counts = (await probe.get(f"{flaky.url}/counts")).json()
        hanging = counts["in_flight"]  # left by the earlier tests, still within their budget

        async def timed_flaky() -> tuple[float, httpx.Response]:
            began = time.monotonic()
            answer = await load.get("/flaky", params={"method": "POST"})
            return time.monotonic() - began, answer

        storm = asyncio.gather(*(timed_flaky() for _ in range(40)))
        await asyncio.sleep(0.05)
        during = {path: await latencies(probe, path, 40) for path in ("/steady", "/local")}
        answers = await storm
        counts = (await probe.get(f"{flaky.url}/counts")).json()
    assert counts["max_in_flight"] - hanging <= 4
    rejected = [elapsed for elapsed, answer in answers if problem(answer) == BULKHEAD_FULL]
    admitted = [elapsed for elapsed, answer in answers if problem(answer) != BULKHEAD_FULL]
    assert len(rejected) >= 30
    # Admitted calls hang until the 0.5 s attempt timeout; a refusal waits 0.05 s at most, so
    # every refusal ends before any admitted call (a stall of the machine delays both alike).
    assert all(elapsed >= 0.5 for elapsed in admitted)
    first_admitted_end = min(admitted) if admitted else 0.5  # all slots held by earlier calls
    assert max(rejected) < first_admitted_end - 0.2
    for path in ("/steady", "/local"):
        assert p99(during[path]) < p99(before[path]) + 0.1, path
