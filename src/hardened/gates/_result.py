"""What one gate found: a frozen result with its evidence, caveats and waiver."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hardened.errors import ConfigError

__all__ = ["GateResult", "Status", "Tier", "Waiver"]


class Status(enum.StrEnum):
    """A gate's verdict, from best to worst (`waived` is a decided, visible exception)."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    WARN = "warn"
    WAIVED = "waived"
    FAIL = "fail"


class Tier(enum.StrEnum):
    """How much blast radius the service has; gates demand more at higher tiers."""

    INTERNAL = "internal"
    STANDARD = "standard"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for internal, 1 for standard, 2 for critical."""
        return list(Tier).index(self)

    def at_least(self, other: Tier) -> bool:
        """True when this tier is `other` or stricter."""
        return self.rank >= other.rank


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiver:
    """An explicit decision to leave a gate partly open: a reason, and optionally an end date."""

    reason: str
    expires: dt.date | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ConfigError("a waiver needs a reason")

    def expired(self, today: dt.date) -> bool:
        """True once `today` is past the expiry date."""
        return self.expires is not None and today > self.expires

    def to_json(self) -> dict[str, str | None]:
        """The report's `waiver` object."""
        return {
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    """One gate's answer: status, the effective values in force, and known residual risks."""

    name: str
    question: str
    status: Status
    evidence: Mapping[str, Any] = field(default_factory=dict)
    caveats: tuple[str, ...] = ()
    waiver: Waiver | None = None

    def with_waiver(self, waiver: Waiver, today: dt.date) -> GateResult:
        """Apply `waiver`: an expired one fails the gate; a valid one waives a warn or fail."""
        if waiver.expired(today):
            assert waiver.expires is not None
            return replace(
                self,
                status=Status.FAIL,
                waiver=waiver,
                caveats=(*self.caveats, f"waiver expired on {waiver.expires.isoformat()}"),
            )
        if self.status in (Status.FAIL, Status.WARN):
            return replace(self, status=Status.WAIVED, waiver=waiver)
        return replace(
            self,
            waiver=waiver,
            caveats=(*self.caveats, "waiver is no longer needed: the gate passes"),
        )

    def to_json(self) -> dict[str, Any]:
        """The report's entry for this gate."""
        return {
            "name": self.name,
            "question": self.question,
            "status": self.status.value,
            "evidence": dict(self.evidence),
            "caveats": list(self.caveats),
            "waiver": self.waiver.to_json() if self.waiver else None,
        }
