"""The pool drill: all connections held, the next request fails fast; a pool that waits fails."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_drill_cli import drill


def _pool_row(repo_root: Path, tmp_path: Path, app: str, url: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "drill.json"
    done = drill(repo_root, app, "--only", "pool", "--json", str(out), env={"DATABASE_URL": url})
    (row,) = json.loads(out.read_text())["drills"]
    return done.returncode, row


def test_a_pool_that_fails_fast_passes(repo_root: Path, tmp_path: Path, postgres_url: str) -> None:
    """Every connection held: 503 + Retry-After within the acquire timeout, then a 2xx again."""
    code, row = _pool_row(repo_root, tmp_path, "tests.apps.drill_pool:app", postgres_url)
    assert code == 0, row
    measured = row["measured"]
    assert isinstance(measured, dict)
    assert measured["status"] == 503
    assert measured["seconds"] <= measured["acquire_timeout_s"] + 0.5
    assert measured["recovered_after_s"] is not None


def test_a_pool_that_waits_fails_the_drill(
    repo_root: Path, tmp_path: Path, postgres_url: str
) -> None:
    """A checkout that waits out the hold is served late, and the drill says so."""
    code, row = _pool_row(repo_root, tmp_path, "tests.apps.drill_pool:slow_acquire", postgres_url)
    assert code == 1
    assert row["passed"] is False
    assert "not a fast 503" in str(row["evidence"])
