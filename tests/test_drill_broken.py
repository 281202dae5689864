"""Each drill fails on a service that leaves its gate's failure open, and says why."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hardened.testing import free_port
from tests.test_drill_cli import drill

CASES = [
    ("no_limits", "oversized_body", "not 413"),
    ("no_limits", "chunked_body", "not 413"),
    ("no_deadline", "tiny_budget", "not 504"),
    ("no_deadline", "budget_propagated", "no budget"),
    ("no_watchdog", "blocked_loop", "no blocked event"),
    ("storm", "dependency_outage", "never opened"),
    ("short_drain", "sigterm_in_flight", "in-flight requests cut"),
    ("stuck_teardown", "pid1_sigterm", "exited 1 after SIGTERM"),
    ("blind", "metrics_families", "http_server_requests_total"),
    ("blind", "junk_traffic", "not even counted"),
    ("blind", "overload_shed", "none shed"),
]


@pytest.mark.long_running
@pytest.mark.parametrize("app", sorted({app for app, _, _ in CASES}))
def test_the_drill_of_the_open_gate_fails_and_says_why(
    app: str, repo_root: Path, tmp_path: Path
) -> None:
    """Exit 1; the drill aimed at the open gate fails with evidence naming the failure."""
    expected = {name: why for case, name, why in CASES if case == app}
    out = tmp_path / "drill.json"
    only = [arg for name in expected for arg in ("--only", name)]
    done = drill(repo_root, f"tests.apps.drill_broken:{app}", *only, "--json", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {row["name"]: row for row in json.loads(out.read_text())["drills"]}
    for name, why in expected.items():
        assert rows[name]["passed"] is False, rows[name]
        assert why in rows[name]["evidence"], rows[name]
        assert rows[name]["measured"], rows[name]


def test_slow_clients_fail_where_nothing_enforces_the_header_timeout(
    repo_root: Path, tmp_path: Path
) -> None:
    """Under stock uvicorn a header-trickling socket outlives the timeout the report claims."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "tests.apps.drill_broken:stock", "--port"]
    with subprocess.Popen([*command, str(port), "--log-level", "warning"], cwd=repo_root) as server:
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            out = tmp_path / "drill.json"
            args = ["--url", url, "--admin-url", url, "--only", "slow_clients"]
            done = drill(repo_root, *args, "--json", str(out))
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    (row,) = json.loads(out.read_text())["drills"]
    assert "still open" in row["evidence"]
    assert row["measured"]["trickle_cut_s"] is None


def test_one_key_sent_twenty_times_without_a_layer_fails(repo_root: Path, tmp_path: Path) -> None:
    """Without the Idempotency-Key layer 20 sends of one key over 2 replicas are 20 charges."""
    out = tmp_path / "drill.json"
    env = {"DRILL_EFFECTS_FILE": str(tmp_path / "charges.log")}
    args = ["--only", "idempotency", "--json", str(out)]
    done = drill(repo_root, "tests.apps.drill_idem:no_key", *args, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    (row,) = json.loads(out.read_text())["drills"]
    assert row["measured"]["replicas"] == 2
    assert row["measured"]["effects"] == 20
    assert "made 20 effects" in row["evidence"]
    assert "not 422" in row["evidence"]
