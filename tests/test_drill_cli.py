"""`hardened drill MODULE:ATTR`: every drill passes on a good service; exit codes; the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hardened.drill import CATALOG

GOOD = "tests.apps.drill_good:app"
FIELDS = {"gate", "name", "did", "measured", "expected", "passed", "evidence", "safe"}


def drill(
    repo_root: Path, *args: str, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `hardened drill ARGS` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "hardened", "drill", *args],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.long_running
def test_every_drill_passes_on_a_good_service(repo_root: Path, tmp_path: Path) -> None:
    """All drills run against a service that closes every gate, pass, and fill the document."""
    out = tmp_path / "drill.json"
    done = drill(repo_root, GOOD, "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    assert document["status"] == "pass"
    assert document["seconds"] < 120
    rows = {row["name"]: row for row in document["drills"]}
    assert set(rows) == {d.name for d in CATALOG}
    for row in rows.values():
        assert set(row) >= FIELDS
        skipped_pid1 = row["name"] == "pid1_sigterm" and "unshare" in str(row["skipped_reason"])
        # Drilled on services of their own (PostgreSQL): tests/test_drill_pool.py and
        # tests/test_drill_idempotency.py.
        elsewhere = row["name"] in {"pool_exhausted", "one_key_one_effect"}
        assert row["passed"] is True or skipped_pid1 or (elsewhere and row["passed"] is None), row
    assert rows["oversized_body"]["measured"]["status"] == 413
    assert rows["tiny_budget"]["measured"]["status"] == 504
    assert "drill_good.py" in rows["blocked_loop"]["measured"]["culprit"]
    assert rows["sigterm_in_flight"]["measured"]["served"] == 4
    assert rows["overload_shed"]["measured"]["shed_503"] > 0
    assert "lifecycle" in done.stdout
    assert "PASS" in done.stdout


def test_usage_errors_exit_2_in_one_line(repo_root: Path) -> None:
    """No target, an unknown gate, or a module that does not import: exit 2, one line."""
    for args in ((), (GOOD, "--only", "nonsense"), ("tests.apps.nowhere:app",), ("--url", "x")):
        done = drill(repo_root, *args, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("hardened: error:") or "usage" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_service_that_cannot_start_exits_3(repo_root: Path) -> None:
    """A start-up failure is exit 3 with one line, not a traceback."""
    done = drill(repo_root, "tests.apps.drill_nostart:app", timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "could not start" in done.stderr
    assert "Traceback" not in done.stderr


def test_requests_refused_on_arrival_are_sent_again_before_the_sigterm(
    repo_root: Path, tmp_path: Path
) -> None:
    """Two of the in-flight drill's requests are refused on arrival (503, as a busy shedder
    would): they are no requests in flight, so they go again, the signal waits for all four,
    and the drill passes; the refusals are counted apart."""
    out = tmp_path / "drill.json"
    app = "tests.apps.drill_good:busy_at_first"
    done = drill(repo_root, app, "--only", "sigterm_in_flight", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = json.loads(out.read_text())["drills"]
    assert row["measured"]["served"] == 4
    assert row["measured"]["refused_on_arrival_and_resent"] == 2
