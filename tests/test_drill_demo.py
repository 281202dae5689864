"""`make drill`: the payments demo passes every drill it declares, in under two minutes."""

from __future__ import annotations

import json
from pathlib import Path

from hardened.testing import run_server
from tests.test_drill_cli import drill


def test_the_demo_passes_its_drills_in_under_two_minutes(
    repo_root: Path, tmp_path: Path, postgres_url: str
) -> None:
    """Exit 0; no drill fails; the pool and idempotency drills ran against the demo itself."""
    out = tmp_path / "drill.json"
    with run_server("examples.payments_api.processor:app", cwd=repo_root, admin=False) as processor:
        env = {
            "DATABASE_URL": postgres_url,
            "PROCESSOR_URL": processor.url,
            "PAYMENTS_API_KEYS": "drill:sk_test_drill_tenant_only",
        }
        done = drill(repo_root, "examples.payments_api.drill:app", "--json", str(out), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(out.read_text())
    assert document["seconds"] < 120
    rows = {row["name"]: row for row in document["drills"]}
    assert not [row for row in rows.values() if row["passed"] is False]
    assert rows["pool_exhausted"]["passed"] is True
    assert rows["one_key_one_effect"]["passed"] is True
    assert rows["one_key_one_effect"]["measured"]["effects"] == 1
    assert rows["oversized_body"]["passed"] is True
