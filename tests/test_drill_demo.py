"""`make drill`: the payments demo passes every drill, in under two minutes; `--url` on a running
demo runs the safe drills only and leaves nothing a user could see."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hardened.drill import CATALOG, TOKEN_ENV
from hardened.testing import run_server
from tests.test_drill_cli import drill

DEMO = "examples.payments_api.drill:app"
DRILL_KEYS = "drill:sk_test_drill_tenant_only"
TOKEN = "drill-token-for-the-demo-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.long_running
@pytest.mark.timeout(300)
def test_the_demo_passes_every_drill_in_under_two_minutes(
    repo_root: Path, tmp_path: Path, postgres_url: str
) -> None:
    """Exit 0; every drill of the catalogue ran against the demo and passed, with its numbers."""
    out = tmp_path / "drill.json"
    with run_server("examples.payments_api.processor:app", cwd=repo_root, admin=False) as processor:
        env = {
            "DATABASE_URL": postgres_url,
            "PROCESSOR_URL": processor.url,
            "PAYMENTS_API_KEYS": DRILL_KEYS,
        }
        done = drill(repo_root, DEMO, "--json", str(out), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(out.read_text())
    assert document["seconds"] < 120
    rows = {row["name"]: row for row in document["drills"]}
    assert set(rows) == {d.name for d in CATALOG}
    for row in rows.values():
        no_unshare = row["name"] == "pid1_sigterm" and "unshare" in str(row["skipped_reason"])
        assert row["passed"] is True or no_unshare, row
    measured = {name: row["measured"] for name, row in rows.items()}
    # The body drills: the upload route's own limit (16 KiB), not the service's 1 MiB.
    assert measured["oversized_body"]["limit_bytes"] == 16 * 1024
    assert measured["chunked_body"]["status"] == 413
    assert measured["chunked_body"]["limit_bytes"] == 16 * 1024
    # The deadline drills: a payment whose processor was made slow, and the budget it carried.
    assert measured["tiny_budget"]["request"] == "outbound"
    assert measured["tiny_budget"]["status"] == 504
    assert 0 < measured["budget_propagated"]["dependency_budget_s"] <= 2.5
    assert float(measured["budget_propagated"]["outbound_header"]) <= 2.5
    assert "payments_api/drill.py" in measured["blocked_loop"]["culprit"]
    assert measured["pool_exhausted"]["status"] == 503
    assert measured["one_key_one_effect"]["effects"] == 1
    outage = measured["dependency_outage"]
    assert outage["fast_503_failing"] > 0
    assert outage["fast_503_hanging"] > 0
    assert outage["attempts_while_failing"] <= outage["attempts_allowed"]
    assert outage["hang_slowest_s"] <= 4.0 + 1.0  # the processor's total timeout, and a second
    shutdown = measured["sigterm_in_flight"]
    assert shutdown["served"] == shutdown["waiting_at_sigterm"] == 4
    assert shutdown["exit_code"] == 0
    overload = measured["overload_shed"]
    assert overload["added_cpu_ms"] == 15.0
    assert overload["shed_503"] > 0
    assert overload["critical_ok"] >= 0.9 * overload["critical_sent"]


async def _rows(url: str) -> dict[str, Any]:
    """Every row a user could see: payments and refunds of every tenant, stored keys."""
    connection = await asyncpg.connect(url)
    try:
        return {
            table: await connection.fetch(f"SELECT * FROM {table} ORDER BY id")
            for table in ("payments", "refunds", "hardened_idempotency_keys")
        }
    finally:
        await connection.close()


@pytest.mark.long_running
def test_drill_url_on_the_running_demo_runs_the_safe_set_and_changes_nothing(
    repo_root: Path, tmp_path: Path, postgres_url: str
) -> None:
    """Safe drills pass; the rest are skipped saying why; no row, charge or fault is left."""
    out = tmp_path / "drill.json"
    with run_server("examples.payments_api.processor:app", cwd=repo_root, admin=False) as processor:
        env = {
            "DATABASE_URL": postgres_url,
            "PROCESSOR_URL": processor.url,
            "PAYMENTS_API_KEYS": DRILL_KEYS,
            TOKEN_ENV: TOKEN,
        }
        with run_server(DEMO, cwd=repo_root, env=env) as demo:
            before = asyncio.run(_rows(postgres_url))
            charges = httpx.get(f"{processor.url}/charges", timeout=10).json()
            args = ["--url", demo.url, "--admin-url", demo.admin_url, "--token", TOKEN]
            done = drill(repo_root, *args, "--json", str(out))
            assert done.returncode == 0, done.stdout + done.stderr
            assert asyncio.run(_rows(postgres_url)) == before
            assert httpx.get(f"{processor.url}/charges", timeout=10).json() == charges
            hooks = f"{demo.admin_url}/drill"
            fault = httpx.get(f"{hooks}/dependency/processor", headers=AUTH, timeout=10).json()
            assert (fault["mode"], fault["breaker"]) == ("off", "closed")
            assert httpx.get(f"{hooks}/cpu", headers=AUTH, timeout=10).json()["ms"] == 0
            assert demo.process.poll() is None
    rows = {row["name"]: row for row in json.loads(out.read_text())["drills"]}
    ran = {name for name, row in rows.items() if row["passed"] is not None}
    assert ran == {"oversized_body", "chunked_body", "slow_clients"} | {
        "metrics_families",
        "junk_traffic",
    }
    assert all(rows[name]["passed"] for name in ran), rows
    # The deadline drills would send a payment: not declared safe, so not sent.
    assert "not declared safe" in rows["tiny_budget"]["skipped_reason"]
    assert "not declared safe" in rows["budget_propagated"]["skipped_reason"]
    assert "--allow overload_shed" in rows["overload_shed"]["skipped_reason"]
    assert "needs the process" in rows["sigterm_in_flight"]["skipped_reason"]
