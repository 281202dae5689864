"""Stalls: a loop late because its thread got no CPU is reported as a stall, not as a block."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HOG = (
    "import os, time\n"
    "os.sched_setaffinity(0, {0})\n"
    "end = time.monotonic() + 4\n"
    "while time.monotonic() < end:\n"
    "    pass\n"
)


def test_cpu_starvation_is_a_stall_with_no_culprit(repo_root: Path) -> None:
    """Pinned in the idle class beside two CPU hogs: the late beats are stalls; no code is
    blamed."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(2)]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tests.apps.loop_starved", "2"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["blocked"] == []
    assert len(report["stalls"]) >= 1
    for stall in report["stalls"]:
        assert stall["kind"] == "stall"
        assert stall["culprit"] is None
        assert stall["culprit_samples"] == 0
        assert stall["duration_ms"] >= 100
    assert "stalled" in result.stderr
