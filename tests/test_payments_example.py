"""The reference service on real PostgreSQL under a real `hardened run` subprocess."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import httpx

from hardened.testing import run_server


async def _insert_payment(url: str) -> uuid.UUID:
    connection = await asyncpg.connect(url)
    try:
        payment_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO payments (id, tenant, amount, currency, status) "
            "VALUES ($1, 'acme', 1250, 'EUR', 'succeeded')",
            payment_id,
        )
        return payment_id
    finally:
        await connection.close()


def test_payments_api_serves_from_postgres(repo_root: Path, postgres_url: str) -> None:
    """Ready once Postgres is wired; a stored payment is read back; unknown ids are 404."""
    env = {"DATABASE_URL": postgres_url}
    with run_server("examples.payments_api.app:app", cwd=repo_root, env=env) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        payment_id = asyncio.run(_insert_payment(postgres_url))
        payment = httpx.get(f"{server.url}/payments/{payment_id}").json()
        assert payment["id"] == str(payment_id)
        assert payment["amount"] == 1250
        assert payment["currency"] == "EUR"
        missing = httpx.get(f"{server.url}/payments/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert httpx.get(f"{server.url}/payments/not-a-uuid").status_code == 404


def test_payments_api_refuses_to_start_without_a_database(repo_root: Path, tmp_path: Path) -> None:
    """Without DATABASE_URL the lifespan fails and the process exits non-zero, saying why."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": ""}
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
