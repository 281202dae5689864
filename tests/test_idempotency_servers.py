"""Exactly-once effects across real `hardened run` processes sharing one PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from hardened.testing import RunningServer, run_server
from tests.apps.idempotency_server import EFFECTS_TABLE
from tests.conftest import REPO_ROOT

APP = "tests.apps.idempotency_server:app"
LEASE = "1.0"


async def _prepare(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(EFFECTS_TABLE)
    finally:
        await connection.close()


async def _effects(url: str, key: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT tenant FROM idem_effects WHERE idem_key = $1 ORDER BY id", key
        )
    finally:
        await connection.close()
    return [row["tenant"] for row in rows]


def _env(postgres_url: str) -> dict[str, str]:
    return {"DATABASE_URL": postgres_url, "IDEM_LEASE": LEASE}


@pytest.fixture(scope="module")
def servers(postgres_url: str) -> Iterator[list[RunningServer]]:
    """Three server processes sharing one database (lease 1 s)."""
    asyncio.run(_prepare(postgres_url))
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(run_server(APP, cwd=REPO_ROOT, env=_env(postgres_url), admin=False))
            for _ in range(3)
        ]


def _headers(key: str, tenant: str = "tenant-a", **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant}", "Idempotency-Key": key, **extra}


async def _post(
    client: httpx.AsyncClient, server: RunningServer, key: str, **extra: str
) -> httpx.Response:
    return await client.post(
        f"{server.url}/orders", json={"item": "book", "qty": 1}, headers=_headers(key, **extra)
    )


async def test_fifty_concurrent_requests_over_three_processes_execute_once(
    servers: list[RunningServer], postgres_url: str
) -> None:
    """One key, 50 requests at once over 3 processes: one execution; the rest replays or 409s."""
    key = uuid.uuid4().hex
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=60)) as client:
        answers = await asyncio.gather(
            *(_post(client, servers[i % 3], key, **{"X-Delay": "0.3"}) for i in range(50))
        )
        late = await _post(client, servers[0], key)
        other_tenant = await client.post(
            f"{servers[1].url}/orders",
            json={"qty": 1, "item": "book"},
            headers=_headers(key, "tenant-b"),
        )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 409}, statuses
    originals = [
        a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers
    ]
    assert len(originals) == 1
    for answer in answers:
        if answer.status_code == 201:
            assert answer.json() == originals[0].json()
        else:
            assert int(answer.headers["retry-after"]) >= 1
    assert late.headers["idempotent-replayed"] == "true"
    assert late.headers["location"] == originals[0].headers["location"]
    assert "set-cookie" in originals[0].headers
    assert "set-cookie" not in late.headers
    assert other_tenant.status_code == 201
    assert "idempotent-replayed" not in other_tenant.headers
    assert other_tenant.json()["order"] != originals[0].json()["order"]
    assert await _effects(postgres_url, key) == ["tenant-a", "tenant-b"]


async def _until_not_in_flight(
    client: httpx.AsyncClient, server: RunningServer, key: str
) -> httpx.Response:
    deadline = time.monotonic() + 10
    while True:
        answer = await _post(client, server, key)
        if answer.status_code != 409 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)


async def test_a_process_killed_after_the_claim_is_retried_once_after_the_lease(
    servers: list[RunningServer], repo_root: Path, postgres_url: str
) -> None:
    """SIGKILL between claim and completion: 409 while the lease lives, then one execution."""
    key = uuid.uuid4().hex
    with run_server(APP, cwd=repo_root, env=_env(postgres_url), admin=False) as doomed:
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.TransportError):
                await _post(client, doomed, key, **{"X-Crash": "after-claim"})
            blocked = await _post(client, servers[0], key)
            retried = await _until_not_in_flight(client, servers[1], key)
            replayed = await _post(client, servers[2], key)
        assert doomed.wait(timeout=10) != 0
    assert blocked.status_code == 409
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert replayed.headers["idempotent-replayed"] == "true"
    assert await _effects(postgres_url, key) == ["tenant-a"]


async def test_a_process_killed_after_the_completion_leaves_a_replay(
    servers: list[RunningServer], repo_root: Path, postgres_url: str
) -> None:
    """SIGKILL after the transaction committed, before the response: the retry is a replay."""
    key = uuid.uuid4().hex
    with run_server(APP, cwd=repo_root, env=_env(postgres_url), admin=False) as doomed:
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(httpx.TransportError):
                await _post(client, doomed, key, **{"X-Crash": "after-complete"})
            retried = await _post(client, servers[0], key)
    assert retried.status_code == 201
    assert retried.headers["idempotent-replayed"] == "true"
    assert await _effects(postgres_url, key) == ["tenant-a"]


async def test_a_handler_slower_than_the_lease_keeps_its_key_by_heartbeat(
    servers: list[RunningServer], postgres_url: str
) -> None:
    """A 2.5 s handler on a 1 s lease: a duplicate at 1.6 s still gets 409, one execution."""
    key = uuid.uuid4().hex
    async with httpx.AsyncClient(timeout=15) as client:
        slow = asyncio.create_task(_post(client, servers[0], key, **{"X-Delay": "2.5"}))
        await asyncio.sleep(1.6)
        duplicate = await _post(client, servers[1], key)
        first = await slow
    assert duplicate.status_code == 409
    assert first.status_code == 201
    assert await _effects(postgres_url, key) == ["tenant-a"]


async def test_a_handler_that_raises_releases_its_key_at_once(
    servers: list[RunningServer], postgres_url: str
) -> None:
    """A 500 leaves no stuck key: the immediate retry on another process executes."""
    key = uuid.uuid4().hex
    async with httpx.AsyncClient(timeout=10) as client:
        failed = await _post(client, servers[0], key, **{"X-Fail": "raise"})
        retried = await _post(client, servers[1], key)
    assert failed.status_code == 500
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert await _effects(postgres_url, key) == ["tenant-a"]
