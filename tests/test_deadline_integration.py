"""The budget across real processes: 504 at the edge, late arrivals, propagation, wiring."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from hardened import Tier
from hardened.testing import run_server


def test_spent_budget_is_504_at_the_edge_and_late_requests_do_no_work(repo_root: Path) -> None:
    """Budget 0.3 s vs a 3 s handler: 504 at 0.3 s; a spent budget never starts work."""
    with run_server("tests.apps.edge_app:app", cwd=repo_root) as server, httpx.Client() as warm:
        warm.get(f"{server.url}/hello")  # the connection and the first request's set-up
        began = time.monotonic()
        answer = warm.get(
            f"{server.url}/slow?s=3", headers={"X-Request-Timeout": "0.3"}, timeout=10
        )
        elapsed = time.monotonic() - began
        assert answer.status_code == 504
        assert answer.headers["content-type"] == "application/problem+json"
        # Across processes: the budget, plus a connection and a response on a busy machine.
        assert 0.3 - 0.02 <= elapsed < 0.3 + 0.4
        before = httpx.get(f"{server.url}/counts").json()["slow_started"]
        late = httpx.get(f"{server.url}/slow?s=3", headers={"X-Request-Timeout": "0"})
        assert late.status_code == 504
        assert httpx.get(f"{server.url}/counts").json()["slow_started"] == before
        evidence = httpx.get(f"{server.admin_url}/gates").json()["gates"][1]["evidence"]
        assert evidence["expired"] == 1
        # The shedder, outermost, drops the late arrival before the deadline layer sees it.
        assert evidence["refused_late"] == 0
        metrics = httpx.get(f"{server.admin_url}/metrics").text
        assert (
            'http_server_shed_rejected_total{priority="standard",reason="deadline"} 1.0' in metrics
        )
        assert evidence["default_timeout_s"] == 5.0


def test_outbound_call_carries_the_remaining_budget(repo_root: Path) -> None:
    """Upstream → downstream over real HTTP: the downstream's budget is what upstream had left."""
    with run_server("tests.apps.edge_downstream:app", cwd=repo_root, admin=False) as down:
        env = {"DOWNSTREAM_URL": down.url}
        with run_server("tests.apps.edge_upstream:app", cwd=repo_root, env=env) as up:
            given = httpx.get(f"{up.url}/call", headers={"X-Request-Timeout": "3"}).json()
            sent = float(given["x_request_timeout"])
            assert 1.0 < sent <= 2.95
            assert given["remaining"] <= sent
            default = httpx.get(f"{up.url}/call").json()
            assert 8.0 < float(default["x_request_timeout"]) <= 9.95
            gate = httpx.get(f"{up.admin_url}/gates").json()["gates"][1]
            listed = {c["type"]: c["consumes_deadline"] for c in gate["evidence"]["components"]}
            assert "remaining()" in listed["tests.apps.edge_upstream.Downstream"]
            assert "remaining()" in listed["hardened.loop._offload.Offloader"]
            # Hardened's own process-wide parts are listed too; they make no per-request calls.
            assert set(listed) == {
                "tests.apps.edge_upstream.Downstream",
                "hardened.loop._offload.Offloader",
                "hardened.loop._monitor.LoopMonitor",
                "hardened.shutdown._manager.ShutdownManager",
            }
            assert gate["evidence"]["outside_clients"] == []
            assert gate["status"] == "pass"


def test_wiring_evidence_flags_clients_built_outside_the_service() -> None:
    """A module-level httpx client is flagged (fail at standard); idle components are listed."""
    from tests.apps.edge_wiring import app

    gate = app.report()["gates"][1]
    evidence = gate["evidence"]
    assert evidence["outside_clients"] == [
        {"where": "tests.apps.edge_wiring.legacy_client", "type": "httpx.AsyncClient"}
    ]
    by_type = {c["type"]: c["consumes_deadline"] for c in evidence["components"]}
    assert by_type["tests.apps.edge_wiring.PaymentsClient"].startswith("attempt timeout")
    assert by_type["asyncpg.pool.Pool"] is None
    assert gate["status"] == "fail"
    assert any("legacy_client" in caveat for caveat in gate["caveats"])
    assert any("asyncpg.pool.Pool" in caveat for caveat in gate["caveats"])
    assert app.report(Tier.INTERNAL)["gates"][1]["status"] == "warn"
