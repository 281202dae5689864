"""The pool gate's evidence: every pool listed with its bound, timeout and sizing arithmetic."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from hardened import Service, Tier
from hardened.deadline import httpx_deadline_hook
from hardened.pool import PoolConfig, PostgresPool
from hardened.testing import run_server


def pool_gate(service: Service, tier: Tier = Tier.STANDARD) -> dict[str, Any]:
    report = service.report(tier)
    gate: dict[str, Any] = next(g for g in report["gates"] if g["name"] == "pool")
    return gate


def test_a_service_without_pools_passes_saying_none_was_found() -> None:
    """No pool: pass, with what was looked for and a caveat naming what the scan cannot see."""
    gate = pool_gate(Service("no-pools"), Tier.CRITICAL)
    assert gate["status"] == "pass"
    assert gate["evidence"]["result"] == "no pool found"
    assert "asyncpg.Pool" in gate["evidence"]["looked_for"]
    assert gate["evidence"]["offload"]["max_size"] == 8
    assert any("invisible" in caveat for caveat in gate["caveats"])


def test_a_module_global_asyncpg_pool_is_found_and_fails(repo_root: Path) -> None:
    """`pool = asyncpg.create_pool(...)` in the app's module fails `hardened check`."""
    result = subprocess.run(
        [sys.executable, "-m", "hardened", "check", "tests.apps.pool_global:app", "--json"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    gate = next(g for g in json.loads(result.stdout)["gates"] if g["name"] == "pool")
    assert gate["status"] == "fail"
    outside = next(
        entry
        for entry in gate["evidence"]["outside_the_service"]
        if entry["name"] == "tests.apps.pool_global.pool"
    )
    assert outside["kind"] == "asyncpg.Pool"
    assert outside["acquire_timeout_s"] is None
    assert any("no acquire timeout" in problem for problem in outside["problems"])


def test_httpx_client_pools_are_listed_with_their_limits() -> None:
    """An unbounded httpx client without a pool timeout fails; a bounded one is listed."""
    unbounded = httpx.AsyncClient(limits=httpx.Limits(max_connections=None), timeout=None)
    bounded = httpx.Client(
        limits=httpx.Limits(max_connections=20),
        timeout=httpx.Timeout(5.0, pool=0.5),
        event_hooks={"request": [httpx_deadline_hook]},
    )
    try:
        service = Service("clients")
        service.components.register_value(httpx.AsyncClient, unbounded)
        service.components.register_value(httpx.Client, bounded)
        gate = pool_gate(service)
        assert gate["status"] == "fail"
        assert pool_gate(service, Tier.INTERNAL)["status"] == "warn"
        by_kind = {entry["kind"]: entry for entry in gate["evidence"]["pools"]}
        assert by_kind["httpx.AsyncClient"]["max_size"] is None
        assert by_kind["httpx.AsyncClient"]["acquire_timeout_s"] is None
        assert len(by_kind["httpx.AsyncClient"]["problems"]) == 2
        assert by_kind["httpx.Client"]["max_size"] == 20
        assert by_kind["httpx.Client"]["acquire_timeout_s"] == 0.5
        assert by_kind["httpx.Client"]["reads_budget"] is True
        assert by_kind["httpx.Client"]["problems"] == []
    finally:
        bounded.close()
        asyncio.run(unbounded.aclose())


def test_a_factory_registered_asyncpg_pool_fails_before_it_starts() -> None:
    """A raw asyncpg.Pool component has no acquire timeout; `check` sees it by its type."""
    service = Service("raw-pool")

    async def factory() -> Any:
        yield None  # pragma: no cover - never started here

    service.components.provide(asyncpg.Pool)(factory)
    gate = pool_gate(service)
    assert gate["status"] == "fail"
    assert gate["evidence"]["pools"][0]["kind"] == "asyncpg.Pool"


def test_a_pool_too_small_for_its_declared_load_warns_with_the_arithmetic() -> None:
    """100 rps x 50 ms needs 5 connections: max_size 2 warns, showing the multiplication."""
    small = PostgresPool(PoolConfig(max_size=2, peak_rps=100, hold_time=0.05), name="small")
    gate = pool_gate(Service("small", mechanisms=[small]))
    assert gate["status"] == "warn"
    sizing = gate["evidence"]["pools"][0]["sizing"]
    assert sizing["connections_needed"] == 5.0
    assert sizing["arithmetic"] == (
        "100/s * 50.0 ms = 5.00 connections busy at peak, exceeds max_size 2"
    )
    assert any("too small for its load" in caveat for caveat in gate["caveats"])


async def test_a_fleet_that_can_exhaust_the_database_warns(postgres_url: str) -> None:
    """max_size x replicas over the server's max_connections (read from PostgreSQL) warns."""
    pool = PostgresPool(PoolConfig(max_size=10, replicas=50, dsn=postgres_url), name="big")
    service = Service("fleet", mechanisms=[pool])
    await service.components.start()
    try:
        gate = pool_gate(service)
    finally:
        await service.components.stop()
    fleet = gate["evidence"]["pools"][0]["fleet"]
    max_connections = fleet["max_connections"]
    assert isinstance(max_connections, int)
    assert max_connections < 500
    assert fleet["fleet_connections"] == 500
    assert fleet["pods_source"] == "PoolConfig.replicas"
    assert fleet["arithmetic"].startswith("10 * 50 pods = 500 connections >")
    assert gate["status"] == "warn"


async def test_pgbouncer_mode_leaves_no_prepared_statement_on_the_server(
    postgres_url: str,
) -> None:
    """With pgbouncer=True a parameterised query leaves no named statement behind."""
    query = "SELECT $1::int + 1"
    counts = {}
    for pgbouncer in (False, True):
        pool = PostgresPool(PoolConfig(max_size=1, dsn=postgres_url, pgbouncer=pgbouncer))
        async with pool.running(), pool.acquire() as conn:
            assert await conn.fetchval(query, 1) == 2
            counts[pgbouncer] = await conn.fetchval("SELECT count(*) FROM pg_prepared_statements")
    assert counts[False] >= 1
    assert counts[True] == 0


def test_the_payments_demo_shows_bounds_saturation_and_sizing(
    repo_root: Path, postgres_url: str
) -> None:
    """The demo's /gates: max size, acquire timeout, live saturation, both arithmetics."""
    env = {
        "DATABASE_URL": postgres_url,
        "PAYMENTS_API_KEYS": "acme:sk_test_pool",
        "PROCESSOR_URL": "http://127.0.0.1:9",  # not called by reads
    }
    auth = {"Authorization": "Bearer sk_test_pool"}
    with run_server("examples.payments_api.app:app", cwd=repo_root, env=env) as server:
        for _ in range(5):
            url = f"{server.url}/payments/{uuid.uuid4()}"
            missing = httpx.get(url, headers=auth, timeout=10)
            assert missing.status_code == 404
        report = httpx.get(f"{server.admin_url}/gates", timeout=10).json()
    gate = next(g for g in report["gates"] if g["name"] == "pool")
    assert gate["status"] == "pass"
    pools = {pool["name"]: pool for pool in gate["evidence"]["pools"]}
    db = pools["payments-db"]
    assert db["name"] == "payments-db"
    assert db["max_size"] == 10
    assert db["acquire_timeout_s"] == 1.0
    assert db["reads_budget"] is True
    assert db["saturation"]["acquires_total"] >= 5
    assert db["saturation"]["in_use"] == 0
    assert db["sizing"]["arithmetic"].startswith("200/s * 10.0 ms = 2.00 connections")
    fleet = db["fleet"]
    assert fleet["pods"] == 4
    assert "deployment.yaml" in fleet["pods_source"]
    assert fleet["arithmetic"].startswith("10 * 4 pods = 40 connections ≤ ")
    assert f"max_connections {fleet['max_connections']}" in fleet["arithmetic"]
