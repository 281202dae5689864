"""Drills on a service with no slow and no CPU-heavy route (declared as the payments demo is):
the dependency made slow and the CPU seam make them run, pass, and fail where a gate is open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from hardened.drill import TOKEN_ENV
from hardened.testing import run_server
from tests.test_drill_cli import drill

LEAN = "tests.apps.drill_lean"
DRILLS = ("tiny_budget", "sigterm_in_flight", "overload_shed")
TOKEN = "drill-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _rows(
    repo_root: Path, tmp_path: Path, app: str, *names: str
) -> tuple[int, dict[str, dict[str, Any]]]:
    out = tmp_path / "drill.json"
    only = [arg for name in names for arg in ("--only", name)]
    done = drill(repo_root, f"{LEAN}:{app}", *only, "--json", str(out))
    assert out.exists(), done.stdout + done.stderr
    rows = {row["name"]: row for row in json.loads(out.read_text())["drills"]}
    return done.returncode, rows


@pytest.mark.timeout(300)
def test_the_drills_run_and_pass_without_a_slow_or_a_cpu_heavy_route(
    repo_root: Path, tmp_path: Path
) -> None:
    """The outbound request with its dependency made slow stands in for a slow one; the cheap
    request is given 15 ms of CPU each: every drill runs and passes."""
    code, rows = _rows(repo_root, tmp_path, "app", *DRILLS)
    assert code == 0, rows
    assert all(rows[name]["passed"] is True for name in DRILLS), rows
    tiny = rows["tiny_budget"]["measured"]
    assert (tiny["request"], tiny["slow_dependency_s"], tiny["status"]) == ("outbound", 0.4, 504)
    shutdown = rows["sigterm_in_flight"]["measured"]
    assert shutdown["waiting_at_sigterm"] == shutdown["served"] == 4
    overload = rows["overload_shed"]["measured"]
    assert overload["added_cpu_ms"] == 15.0
    assert overload["one_request_s"] >= 0.015
    assert overload["shed_503"] > 0


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("app", "name", "why"),
    [
        ("no_deadline", "tiny_budget", "not 504"),
        ("short_drain", "sigterm_in_flight", "503 shutdown-interrupted"),
        ("unshed", "overload_shed", "none shed"),
    ],
)
@pytest.mark.long_running
def test_each_drill_fails_where_its_gate_is_open(
    app: str, name: str, why: str, repo_root: Path, tmp_path: Path
) -> None:
    """Exit 1, and the drill's evidence names what the open gate let happen."""
    code, rows = _rows(repo_root, tmp_path, app, name)
    assert code == 1, rows
    assert rows[name]["passed"] is False, rows[name]
    assert why in rows[name]["evidence"], rows[name]
    assert rows[name]["measured"], rows[name]


def test_the_cpu_and_slow_hooks_need_the_token_and_check_what_they_are_given(
    repo_root: Path,
) -> None:
    """`/drill/cpu` and the slow mode: 404 on the public port or without the token, 400 for a
    cost or latency out of bounds, and back to nothing once set to 0 and `off`."""
    with run_server(f"{LEAN}:app", cwd=repo_root, env={TOKEN_ENV: TOKEN}) as server:
        hooks = f"{server.admin_url}/drill"
        assert (
            httpx.post(f"{server.url}/drill/cpu", headers=AUTH, json={"ms": 5}).status_code == 404
        )
        assert httpx.post(f"{hooks}/cpu", json={"ms": 5}).status_code == 404
        assert httpx.post(f"{hooks}/cpu", headers=AUTH, json={"ms": 500}).status_code == 400
        set_cost = httpx.post(f"{hooks}/cpu", headers=AUTH, json={"ms": 5})
        assert set_cost.json() == {"method": "GET", "path": "/catalog", "ms": 5.0}
        assert httpx.post(f"{hooks}/cpu", headers=AUTH, json={"ms": 0}).json()["ms"] == 0
        ledger = f"{hooks}/dependency/ledger"
        assert httpx.post(ledger, headers=AUTH, json={"mode": "slow"}).status_code == 400
        slow = httpx.post(ledger, headers=AUTH, json={"mode": "slow", "latency_s": 0.05})
        assert (slow.json()["mode"], slow.json()["latency_s"]) == ("slow", 0.05)
        order = {"Idempotency-Key": "k-1"}
        assert httpx.post(f"{server.url}/orders", headers=order, timeout=10).status_code == 201
        seen = httpx.get(ledger, headers=AUTH).json()
        assert (seen["attempts"], seen["waiting"]) == (1, 0)
        assert httpx.post(ledger, headers=AUTH, json={"mode": "off"}).json()["mode"] == "off"
        manifest = httpx.get(hooks, headers=AUTH).json()
        assert manifest["dependencies"] == ["ledger"]
        assert manifest["unresolved"] == []
        assert manifest["cpu_cost"] is True


def test_a_running_instance_never_gets_a_slow_dependency_without_allow(
    repo_root: Path, tmp_path: Path
) -> None:
    """`--url`: tiny_budget would slow the ledger for every caller, so it is skipped saying so
    (even with the outbound request declared safe); `--allow tiny_budget` runs it and passes."""
    out = tmp_path / "drill.json"
    with run_server(f"{LEAN}:safe_outbound", cwd=repo_root, env={TOKEN_ENV: TOKEN}) as server:
        args = ["--url", server.url, "--admin-url", server.admin_url, "--token", TOKEN]
        done = drill(repo_root, *args, "--only", "deadline", "--json", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        rows = {row["name"]: row for row in json.loads(out.read_text())["drills"]}
        ledger = httpx.get(f"{server.admin_url}/drill/dependency/ledger", headers=AUTH).json()
        assert (ledger["mode"], ledger["waiting"]) == ("off", 0)
        allowed = drill(repo_root, *args, "--only", "tiny_budget", "--allow", "tiny_budget")
        assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert rows["tiny_budget"]["passed"] is None
    assert "delays every request" in rows["tiny_budget"]["skipped_reason"]
    assert rows["budget_propagated"]["passed"] is True
    assert "PASS tiny_budget" in allowed.stdout
