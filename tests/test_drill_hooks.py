"""Drill hooks: admin listener only, off without a token; `hardened drill --url` changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from hardened import Service
from hardened.drill import TOKEN_ENV, DrillConfig, DrillHooks
from hardened.outbound import Dependency
from hardened.testing import run_server
from tests.test_drill_cli import GOOD, drill

TOKEN = "drill-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _blocked_by_the_hook(admin_url: str) -> int:
    """Blocked events the loop gate attributes to the drill hook's function."""
    report = httpx.get(f"{admin_url}/gates", timeout=10).json()
    loop = next(gate for gate in report["gates"] if gate["name"] == "loop")
    return sum("hold_the_loop" in str(e) for e in loop["evidence"]["recent_blocked_events"])


def test_hooks_need_the_token_and_live_on_the_admin_listener_only(repo_root: Path) -> None:
    """Without the token, with a wrong one, or on the public port: 404, and nothing blocks."""
    with run_server(GOOD, cwd=repo_root, env={TOKEN_ENV: TOKEN}) as server:
        admin = server.admin_url
        assert httpx.get(f"{admin}/drill", timeout=5).status_code == 404
        wrong = {"Authorization": "Bearer not-the-token-at-all-000000"}
        assert httpx.get(f"{admin}/drill", headers=wrong, timeout=5).status_code == 404
        manifest = httpx.get(f"{admin}/drill", headers=AUTH, timeout=5)
        assert manifest.status_code == 200
        assert manifest.json()["requests"]["slow"]["path"] == "/slow"
        public = httpx.post(
            f"{server.url}/drill/block_loop", headers=AUTH, json={"seconds": 0.5}, timeout=5
        )
        assert public.status_code == 404
        assert public.elapsed.total_seconds() < 0.4
        assert _blocked_by_the_hook(admin) == 0


def test_hooks_are_off_without_a_token(repo_root: Path) -> None:
    """A service started without a drill token answers 404 to every hook."""
    with run_server(GOOD, cwd=repo_root, env={TOKEN_ENV: ""}) as server:
        for path in ("/drill", "/drill/dependency/echo"):
            answer = httpx.get(f"{server.admin_url}{path}", headers=AUTH, timeout=5)
            assert answer.status_code == 404


def test_drill_url_runs_the_safe_set_and_leaves_the_service_as_it_was(
    repo_root: Path, tmp_path: Path
) -> None:
    """Safe drills pass; the others are skipped saying how to allow them; users see nothing."""
    out = tmp_path / "drill.json"
    with run_server(GOOD, cwd=repo_root, env={TOKEN_ENV: TOKEN}) as server:
        args = ["--url", server.url, "--admin-url", server.admin_url, "--token", TOKEN]
        done = drill(repo_root, *args, "--json", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        fault = httpx.get(f"{server.admin_url}/drill/dependency/echo", headers=AUTH).json()
        assert fault["mode"] == "off"
        assert fault["breaker"] == "closed"
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert httpx.get(f"{server.url}/outbound").text == "echoed"
        assert _blocked_by_the_hook(server.admin_url) == 0
        assert server.process.poll() is None
    rows = {row["name"]: row for row in json.loads(out.read_text())["drills"]}
    for row in rows.values():
        if row["safe"]:
            assert row["passed"] is True, row
        else:
            assert row["passed"] is None, row
    assert "--allow blocked_loop" in rows["blocked_loop"]["skipped_reason"]
    assert "needs the process" in rows["sigterm_in_flight"]["skipped_reason"]


def test_drill_url_runs_an_allowed_drill(repo_root: Path, tmp_path: Path) -> None:
    """`--allow blocked_loop` runs that drill against the running instance, and it passes."""
    out = tmp_path / "drill.json"
    with run_server(GOOD, cwd=repo_root, env={TOKEN_ENV: TOKEN}) as server:
        args = ["--url", server.url, "--admin-url", server.admin_url, "--token", TOKEN]
        done = drill(
            repo_root, *args, "--only", "loop", "--allow", "blocked_loop", "--json", str(out)
        )
        assert done.returncode == 0, done.stdout + done.stderr
    (row,) = json.loads(out.read_text())["drills"]
    assert row["passed"] is True
    assert "drill_good.py" in row["measured"]["culprit"]


def test_dependencies_and_pools_named_are_found_whatever_the_install_order() -> None:
    """Names resolve to the service's own dependency even when the hooks joined first; a name
    the service does not have is listed as unresolved, never silently dropped."""
    ledger = Dependency("ledger")
    hooks = DrillHooks(DrillConfig(dependencies=["ledgr", "ledger"], pools=["db"]))
    Service("named", mechanisms=[hooks, ledger])
    manifest = hooks.manifest()
    assert manifest["dependencies"] == ["ledger"]
    assert hooks.faults["ledger"].dependency is ledger
    assert manifest["unresolved"] == ["dependency 'ledgr'", "pool 'db'"]
    assert hooks.faults["ledger"].state()["mode"] == "off"
