"""The Gate protocol, the catalogue of the eight gates, and the honest placeholder."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hardened.gates._result import GateResult, Status, Tier

__all__ = ["GATE_NAMES", "GATE_QUESTIONS", "Gate", "NotConfiguredGate"]

GATE_QUESTIONS: dict[str, str] = {
    "lifecycle": (
        "Does the process get SIGTERM (PID 1 / init)? Are body limits, backpressure and "
        "the edge timeout in force?"
    ),
    "deadline": (
        "Is the timeout budget set once and propagated down the stack? Is wiring explicit?"
    ),
    "loop": "Is anything blocking the event loop; is loop lag observed?",
    "pool": (
        "Is every pool bounded, sized to its slowest dependency, with an acquire timeout? "
        "Is saturation a metric?"
    ),
    "idempotency": ("Is every retried write idempotent; are retries bounded, jittered, budgeted?"),
    "breaker": (
        "Does every external call have a timeout and a breaker; is the blast radius isolated?"
    ),
    "shutdown": "Does the drain fit the grace period; does it deregister before it drains?",
    "observe": (
        "RED, percentiles, every mechanism's state, SLO + error budget, a shedder at the edge?"
    ),
}

GATE_NAMES: tuple[str, ...] = tuple(GATE_QUESTIONS)


@runtime_checkable
class Gate(Protocol):
    """Answers one verifiable question with evidence; decides its status per tier."""

    @property
    def name(self) -> str:
        """One of `GATE_NAMES`."""
        ...

    def check(self, tier: Tier) -> GateResult:
        """Inspect the mechanism now (config and, while serving, runtime state)."""
        ...


class NotConfiguredGate:
    """Stands in for a gate whose mechanism is not configured: it always fails, saying why."""

    __slots__ = ("_name", "_reason")

    def __init__(self, name: str, reason: str = "not configured") -> None:
        self._name = name
        self._reason = reason

    @property
    def name(self) -> str:
        return self._name

    def check(self, tier: Tier) -> GateResult:
        del tier
        return GateResult(
            name=self._name,
            question=GATE_QUESTIONS[self._name],
            status=Status.FAIL,
            evidence={"configured": False, "reason": self._reason},
            caveats=(f"fail: {self._reason}",),
        )
