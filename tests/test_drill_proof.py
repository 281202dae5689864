"""The proof joins the report: each gate's last drill in /gates and `hardened check --proof`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hardened import Service, Tier
from hardened.drill import DrillConfig, DrillHooks, DrillResult, document


def _row(gate: str, name: str, *, passed: bool | None, days_ago: float = 0) -> DrillResult:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return DrillResult(
        gate=gate,
        name=name,
        did="did",
        expected="expected",
        safe=True,
        passed=passed,
        measured={"status": 413},
        evidence="ok" if passed else "answered 200, not 413",
        skipped_reason=None if passed is not None else "skipped",
        at=at.isoformat(timespec="seconds"),
    )


def _write(path: Path, rows: list[DrillResult]) -> Path:
    path.write_text(json.dumps(document(rows, service="s", target={}, seconds=1.0)))
    return path


def _gates(service: Service, tier: Tier | None = None) -> dict[str, dict[str, Any]]:
    return {gate["name"]: gate for gate in service.report(tier)["gates"]}


def test_gates_show_each_gates_last_drill(tmp_path: Path) -> None:
    """A passing drill is shown as proof; a failed one warns its gate and says which drill."""
    proof = _write(
        tmp_path / "drill.json",
        [
            _row("deadline", "tiny_budget", passed=True),
            _row("lifecycle", "oversized_body", passed=False),
            _row("loop", "blocked_loop", passed=None),
        ],
    )
    service = Service("proven", mechanisms=[DrillHooks(DrillConfig(proof=proof))])
    gates = _gates(service)
    assert gates["deadline"]["evidence"]["drill"]["status"] == "proven"
    assert gates["deadline"]["status"] == "pass"
    assert gates["lifecycle"]["status"] == "warn"
    assert "oversized_body" in gates["lifecycle"]["caveats"][0]
    assert gates["loop"]["evidence"]["drill"]["status"] == "unproven"  # a skip proves nothing
    assert _gates(service, Tier.CRITICAL)["lifecycle"]["status"] == "fail"


def test_a_critical_service_requires_every_gate_proven_within_n_days(tmp_path: Path) -> None:
    """With prove_within_days, a stale or missing proof fails the gate at the critical tier."""
    proof = _write(
        tmp_path / "drill.json",
        [
            _row("deadline", "tiny_budget", passed=True, days_ago=1),
            _row("lifecycle", "oversized_body", passed=True, days_ago=30),
        ],
    )
    config = DrillConfig(proof=proof, prove_within_days=7)
    service = Service("critical", tier=Tier.CRITICAL, mechanisms=[DrillHooks(config)])
    gates = _gates(service)
    assert gates["deadline"]["status"] == "pass"
    assert gates["lifecycle"]["status"] == "fail"
    assert gates["lifecycle"]["evidence"]["drill"]["status"] == "stale"
    assert "within 7 days" in gates["lifecycle"]["caveats"][0]
    assert gates["loop"]["evidence"]["drill"]["status"] == "unproven"
    assert gates["loop"]["status"] == "fail"


def _check(repo_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hardened", "check", "tests.apps.drill_good:app", *args]
    return subprocess.run(
        command, cwd=repo_root, capture_output=True, text=True, timeout=60, check=False
    )


def test_check_proof_prints_the_drill_per_gate(repo_root: Path, tmp_path: Path) -> None:
    """`hardened check MODULE:ATTR --proof drill.json --json` carries each gate's drill."""
    proof = _write(tmp_path / "drill.json", [_row("lifecycle", "oversized_body", passed=False)])
    done = _check(repo_root, "--proof", str(proof), "--json")
    report = json.loads(done.stdout)
    gates = {gate["name"]: gate for gate in report["gates"]}
    assert gates["lifecycle"]["evidence"]["drill"]["status"] == "failed"
    assert gates["lifecycle"]["status"] == "warn"
    missing = _check(repo_root, "--proof", str(tmp_path / "absent.json"))
    assert missing.returncode == 2
    assert "no drill document" in missing.stderr
