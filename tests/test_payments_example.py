"""The reference service on real PostgreSQL under a real `hardened run` subprocess: reads, the
pool's bound and teardown, start-up refusals, and the schema's own constraints."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from examples.payments_api.store import SCHEMA
from hardened.testing import run_server
from tests.payments_stack import API_KEYS, KEYS

AUTH = {"Authorization": f"Bearer {KEYS['acme']}"}


def _env(postgres_url: str) -> dict[str, str]:
    # Reads never call the processor: an address nothing listens on is enough here.
    return {
        "DATABASE_URL": postgres_url,
        "PAYMENTS_API_KEYS": API_KEYS,
        "PROCESSOR_URL": "http://127.0.0.1:9",
    }


async def _insert_payment(url: str, amount: int = 1250) -> uuid.UUID:
    """Insert one payment, with the schema applied first (idempotent): a test may run before
    any service has started on this database."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(SCHEMA.read_text())
        payment_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO payments (id, tenant, idempotency_key, fingerprint, amount, currency,"
            " source, status) VALUES ($1, 'acme', $2, 'f', $3, 'EUR', 'tok_visa', 'succeeded')",
            payment_id,
            str(payment_id),
            amount,
        )
        return payment_id
    finally:
        await connection.close()


def test_payments_api_serves_from_postgres(repo_root: Path, postgres_url: str) -> None:
    """Ready once Postgres is wired; a stored payment is read back; unknown ids are 404."""
    with run_server(
        "examples.payments_api.app:app", cwd=repo_root, env=_env(postgres_url)
    ) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        payment_id = asyncio.run(_insert_payment(postgres_url))
        payment = httpx.get(f"{server.url}/payments/{payment_id}", headers=AUTH).json()
        assert payment["id"] == str(payment_id)
        assert payment["amount"] == 1250
        assert payment["currency"] == "EUR"
        missing = httpx.get(f"{server.url}/payments/{uuid.uuid4()}", headers=AUTH)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert httpx.get(f"{server.url}/payments/not-a-uuid", headers=AUTH).status_code == 404


def test_payments_api_refuses_to_start_without_a_database(repo_root: Path, tmp_path: Path) -> None:
    """Without DATABASE_URL the lifespan fails and the process exits non-zero, saying why."""
    # A stripped environment that still imports the tree under test (not whatever `hardened`
    # the interpreter has installed) and writes no bytecode into it.
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": "",
        "PAYMENTS_API_KEYS": API_KEYS,
        "PROCESSOR_URL": "http://127.0.0.1:9",
        "PYTHONPATH": os.pathsep.join([str(repo_root / "src"), str(repo_root)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    where = subprocess.run(
        [sys.executable, "-c", "import hardened; print(hardened.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert Path(where.stdout.strip()) == repo_root / "src" / "hardened" / "__init__.py"
    result = subprocess.run(
        [sys.executable, "-m", "hardened", "run", "examples.payments_api.app:app", "--port", "0"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stdout + result.stderr


async def _server_connections(url: str) -> int:
    """Connections to the test database from the server's pool (other tests' servers left out)."""
    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND application_name = 'payments-api/payments-db'"
        )
        return count
    finally:
        await connection.close()


async def _concurrent_reads(url: str, ids: list[uuid.UUID]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(ids))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=AUTH) as client:
        return list(await asyncio.gather(*(client.get(f"/payments/{i}") for i in ids)))


def test_postgres_pool_is_bounded_and_closed_at_shutdown(
    repo_root: Path, postgres_url: str
) -> None:
    """40 concurrent reads use at most the pool's 10 connections; SIGTERM closes every one."""
    with run_server(
        "examples.payments_api.app:app", cwd=repo_root, env=_env(postgres_url)
    ) as server:
        ids = [asyncio.run(_insert_payment(postgres_url)) for _ in range(40)]
        responses = asyncio.run(_concurrent_reads(server.url, ids))
        assert [r.status_code for r in responses] == [200] * 40
        assert {r.json()["id"] for r in responses} == {str(i) for i in ids}
        during = asyncio.run(_server_connections(postgres_url))
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    after = asyncio.run(_server_connections(postgres_url))
    assert 1 <= during <= 10, "the pool opened connections, never more than max_size"
    assert after == 0, "the pool's teardown closed its connections before the process exited"


def test_postgres_constraints_reach_the_caller_as_errors(postgres_url: str) -> None:
    """The schema is enforced by PostgreSQL itself: no zero amount, no refund past the amount."""

    async def attempt(statement: str) -> None:
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute(SCHEMA.read_text())  # what the service applies at start
            await connection.execute(statement)
        finally:
            await connection.close()

    payment_id = asyncio.run(_insert_payment(postgres_url, amount=100))
    with pytest.raises(asyncpg.CheckViolationError):
        asyncio.run(attempt(f"UPDATE payments SET refunded = 101 WHERE id = '{payment_id}'"))
    with pytest.raises(asyncpg.CheckViolationError):
        asyncio.run(attempt(f"UPDATE payments SET amount = 0 WHERE id = '{payment_id}'"))
