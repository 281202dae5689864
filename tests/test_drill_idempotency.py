"""The idempotency drill passes on a service behind the Idempotency-Key layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_drill_cli import drill


@pytest.mark.serial
def test_one_key_sent_twenty_times_over_two_replicas_is_one_charge(
    repo_root: Path, tmp_path: Path, postgres_url: str
) -> None:
    """One effect for 20 concurrent sends over 2 replicas; 422 for the key with another body."""
    out = tmp_path / "drill.json"
    args = ["--only", "idempotency", "--json", str(out)]
    done = drill(
        repo_root, "tests.apps.drill_idem:with_key", *args, env={"DATABASE_URL": postgres_url}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = json.loads(out.read_text())["drills"]
    measured = row["measured"]
    assert measured["replicas"] == 2
    assert measured["effects"] == 1
    assert measured["succeeded"] >= 1
    assert measured["other_body_status"] == 422
