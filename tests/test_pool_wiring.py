"""One pool per dependency: named lookup, start and stop with the service, statements in budget."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardened import ConfigError, DeadlineExceeded, Service, deadline_scope
from hardened.pool import PoolConfig, Pools, PostgresPool


async def test_pools_are_found_by_type_and_by_name(postgres_url: str) -> None:
    """The first pool is the PostgresPool component; every pool is reachable by name."""
    db = PostgresPool(PoolConfig(max_size=2, dsn=postgres_url), name="db")
    reports = PostgresPool(PoolConfig(max_size=1, dsn=postgres_url), name="reports")
    service = Service("two-pools", mechanisms=[db, reports])
    await service.components.start()
    try:
        assert service.components.get(PostgresPool) is db
        pools = service.components.get(Pools)
        assert pools["reports"] is reports
        assert await pools["reports"].fetchval("SELECT 41 + 1") == 42
        assert [entry["name"] for entry in service.report()["gates"][3]["evidence"]["pools"]] == [
            "db",
            "reports",
        ]
        with pytest.raises(LookupError, match="no pool named 'missing'"):
            pools["missing"]
    finally:
        await service.components.stop()
    assert not db.started
    assert not reports.started


def test_two_pools_with_one_name_are_refused() -> None:
    """Pool names are unique within a service."""
    with pytest.raises(ConfigError, match="already has a pool named 'db'"):
        Service(
            "dup",
            mechanisms=[PostgresPool(PoolConfig(max_size=1)), PostgresPool(PoolConfig(max_size=1))],
        )


async def test_a_pool_without_a_dsn_names_the_missing_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No dsn and no DATABASE_URL: starting fails, saying which setting is missing."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        await PostgresPool(PoolConfig(max_size=1)).start()


async def test_a_statement_is_cut_at_the_budget_and_the_connection_reused(
    postgres_url: str,
) -> None:
    """pg_sleep(5) inside a 0.2 s budget raises DeadlineExceeded at ~0.2 s; the pool goes on."""
    pool = PostgresPool(PoolConfig(max_size=1, dsn=postgres_url))
    async with pool.running():
        began = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            async with deadline_scope(0.2), pool.acquire() as conn:
                await conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - began < 0.2 + 0.25
        assert await pool.fetchval("SELECT 1") == 1
        assert pool.stats.in_use == 0


def test_a_pool_the_service_does_not_hold_is_flagged(repo_root: Path) -> None:
    """A PostgresPool in the app's module that was never installed fails the gate."""
    result = subprocess.run(
        [sys.executable, "-m", "hardened", "check", "tests.apps.pool_global:app", "--json"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "tests.apps.pool_global.stray" in result.stdout
    assert "not installed on the service" in result.stdout
