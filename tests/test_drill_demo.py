"""`make drill`: the payments demo passes every drill it declares, in under two minutes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_drill_cli import drill


def test_the_demo_passes_its_drills_in_under_two_minutes(
    repo_root: Path, tmp_path: Path, postgres_url: str
) -> None:
    """Exit 0; no drill fails; the pool drill ran against the demo's own pool."""
    out = tmp_path / "drill.json"
    done = drill(
        repo_root,
        "examples.payments_api.drill:app",
        "--json",
        str(out),
        env={"DATABASE_URL": postgres_url},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(out.read_text())
    assert document["seconds"] < 120
    rows = {row["name"]: row for row in document["drills"]}
    assert not [row for row in rows.values() if row["passed"] is False]
    assert rows["pool_exhausted"]["passed"] is True
    assert rows["oversized_body"]["passed"] is True
