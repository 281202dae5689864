"""What a drill is and what it found: the catalogue entry, its outcome and the result row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hardened.drill._target import Target

__all__ = ["Drill", "DrillResult", "Outcome", "Skip", "measure"]

Measured = Mapping[str, float | int | str | None]


class Skip(Exception):
    """Raised by a drill that cannot run against this target; its message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one drill measured, whether that met the expectation, and why (numbers first)."""

    measured: Measured
    passed: bool
    evidence: str


def measure(measured: Measured, failures: list[str], ok: str) -> Outcome:
    """An outcome that passes when `failures` is empty; its evidence names every failure."""
    return Outcome(measured=measured, passed=not failures, evidence="; ".join(failures) or ok)


@dataclass(frozen=True, slots=True, kw_only=True)
class Drill:
    """One failure mode of one gate, made to happen against a running service.

    `safe`: a user of the service would notice nothing (it may run against a live replica).
    `needs_process`: it signals the server process, so it runs only on a service it started.
    """

    gate: str
    name: str
    did: str
    expected: str
    run: Callable[[Target], Outcome]
    safe: bool = False
    needs_process: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillResult:
    """One row of the drill report (one entry of the JSON document's `drills`)."""

    gate: str
    name: str
    did: str
    expected: str
    safe: bool
    passed: bool | None  # None: skipped
    measured: Measured = field(default_factory=dict)
    evidence: str = ""
    skipped_reason: str | None = None
    seconds: float = 0.0
    at: str = ""

    @classmethod
    def of(
        cls, drill: Drill, outcome: Outcome | None, *, skipped: str | None, seconds: float
    ) -> DrillResult:
        """The row for `drill`: its outcome, or the reason it was skipped."""
        return cls(
            gate=drill.gate,
            name=drill.name,
            did=drill.did,
            expected=drill.expected,
            safe=drill.safe,
            passed=None if outcome is None else outcome.passed,
            measured=dict(outcome.measured) if outcome else {},
            evidence=outcome.evidence if outcome else "",
            skipped_reason=skipped,
            seconds=round(seconds, 3),
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON entry (docs/drills.md)."""
        return {
            "gate": self.gate,
            "name": self.name,
            "did": self.did,
            "measured": dict(self.measured),
            "expected": self.expected,
            "passed": self.passed,
            "evidence": self.evidence,
            "safe": self.safe,
            "skipped_reason": self.skipped_reason,
            "seconds": self.seconds,
            "at": self.at,
        }
