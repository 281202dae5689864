"""The proof in the report: each gate's last drill result and time, read from a drill document.

`ProofBook` is what the `gates.proof` fact offers: `/gates` (and `hardened check --proof`)
pass the gate results through it. A gate whose drills failed warns (fails at the critical
tier); with `prove_within_days`, so does a gate no passing drill proved within that many days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from hardened.gates import GateResult, Status, Tier

__all__ = ["ProofBook", "gate_proofs"]


def gate_proofs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per gate: the drills that ran (skipped ones do not prove anything), their verdict, time."""
    proofs: dict[str, dict[str, Any]] = {}
    for drill in document.get("drills", []):
        if drill.get("passed") is None:
            continue
        entry = proofs.setdefault(
            drill["gate"], {"passed": True, "at": "", "drills": 0, "failed": []}
        )
        entry["drills"] += 1
        entry["at"] = max(entry["at"], str(drill.get("at", "")))
        if not drill["passed"]:
            entry["passed"] = False
            entry["failed"].append(f"{drill['name']}: {drill.get('evidence', '')}")
    return proofs


class ProofBook:
    """Reads a drill document (again whenever it changes) and marks the gate results."""

    def __init__(self, path: Path | None, within_days: float | None = None) -> None:
        self.path = path
        self.within_days = within_days
        self._cache: tuple[float, dict[str, dict[str, Any]]] | None = None

    def use(self, path: Path, within_days: float | None = None) -> None:
        """Read the proof from `path` from now on (`hardened check --proof`)."""
        self.path, self._cache = path, None
        if within_days is not None:
            self.within_days = within_days

    def _proofs(self) -> dict[str, dict[str, Any]] | str:
        if self.path is None:
            return "no proof document configured"
        try:
            mtime = self.path.stat().st_mtime
            if self._cache is None or self._cache[0] != mtime:
                self._cache = (mtime, gate_proofs(json.loads(self.path.read_text())))
        except (OSError, ValueError) as exc:
            return f"cannot read the drill document {self.path}: {exc}"
        return self._cache[1]

    def __call__(self, results: list[GateResult], tier: Tier) -> list[GateResult]:
        """The results with each gate's proof in its evidence, and its status where it falls."""
        if self.path is None:
            return results
        proofs = self._proofs()
        now = dt.datetime.now(dt.UTC)
        marked = []
        for result in results:
            if isinstance(proofs, str):
                proof: dict[str, Any] = {"status": "unreadable", "reason": proofs}
            else:
                proof = self._judge(proofs.get(result.name), now)
            marked.append(self._mark(result, proof, tier))
        return marked

    def _judge(self, proof: dict[str, Any] | None, now: dt.datetime) -> dict[str, Any]:
        if proof is None:
            return {"status": "unproven", "reason": "no drill of this gate ran"}
        at = dt.datetime.fromisoformat(proof["at"]) if proof["at"] else now
        age = (now - at).total_seconds() / 86400
        status = "proven" if proof["passed"] else "failed"
        if proof["passed"] and self.within_days is not None and age > self.within_days:
            status = "stale"
        return {**proof, "status": status, "age_days": round(age, 2)}

    def _mark(self, result: GateResult, proof: dict[str, Any], tier: Tier) -> GateResult:
        evidence = {**result.evidence, "drill": proof}
        problem = None
        if proof["status"] == "failed":
            problem = f"a drill of this gate failed at {proof['at']}: {proof['failed'][0]}"
        elif proof["status"] != "proven" and self.within_days is not None:
            problem = (
                f"not proven by a passing drill within {self.within_days:g} days "
                f"({proof['status']})"
            )
        if problem is None or result.status is Status.FAIL:
            caveats = result.caveats if problem is None else (problem, *result.caveats)
            return dataclasses.replace(result, evidence=evidence, caveats=caveats)
        status = Status.FAIL if tier is Tier.CRITICAL else Status.WARN
        if result.status is Status.WAIVED:
            status = Status.WAIVED
        return dataclasses.replace(
            result, status=status, evidence=evidence, caveats=(problem, *result.caveats)
        )
