"""The gate board: one gate per name in the fixed order, waivers applied, the report built."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.errors import ConfigError
from hardened.gates._gate import GATE_NAMES, GATE_QUESTIONS, Gate, NotConfiguredGate
from hardened.gates._result import GateResult, Status, Tier, Waiver
from hardened.redact import redact_document

__all__ = ["HONESTY_WARNING", "GateBoard", "build_report"]

HONESTY_WARNING = (
    "every gate passes with no caveat at the critical tier: real services have tradeoffs; "
    "check that the evidence states them"
)


def _worst(statuses: list[Status]) -> Status:
    if Status.FAIL in statuses:
        return Status.FAIL
    if Status.WARN in statuses or Status.WAIVED in statuses:
        return Status.WARN
    return Status.PASS


def build_report(service: str, tier: Tier, results: list[GateResult]) -> dict[str, Any]:
    """The report document (served at `/gates`, printed by `hardened check --json`).

    Every string of the gates' evidence passes `hardened.redact` last: `redacted` counts the
    secret values replaced here (command lines are already redacted where they are read).
    """
    warnings: list[str] = []
    status = _worst([result.status for result in results])
    honest_gap = all(r.status is Status.PASS and not r.caveats for r in results)
    if tier is Tier.CRITICAL and results and honest_gap:
        warnings.append(HONESTY_WARNING)
        status = Status.WARN
    gates, redacted = redact_document([result.to_json() for result in results])
    return {
        "service": service,
        "tier": tier.value,
        "status": status.value,
        "gates": gates,
        "warnings": warnings,
        "redacted": redacted,
    }


class GateBoard:
    """Holds the eight gates; each starts as a failing placeholder until a mechanism registers."""

    def __init__(
        self, *, waivers: Mapping[str, Waiver] | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        waivers = dict(waivers or {})
        unknown = sorted(set(waivers) - set(GATE_NAMES))
        if unknown:
            raise ConfigError(f"waivers name unknown gates {unknown}; gates are {GATE_NAMES}")
        self._waivers = waivers
        self._clock = clock
        self._gates: dict[str, Gate] = {name: NotConfiguredGate(name) for name in GATE_NAMES}

    def register(self, gate: Gate) -> None:
        """Make `gate` the one that answers for its name."""
        if gate.name not in self._gates:
            raise ConfigError(f"unknown gate {gate.name!r}; gates are {GATE_NAMES}")
        self._gates[gate.name] = gate

    def gate(self, name: str) -> Gate:
        """The gate currently answering for `name`."""
        return self._gates[name]

    def configured(self) -> tuple[str, ...]:
        """The names of the gates a mechanism answers for (not the placeholder)."""
        return tuple(n for n, g in self._gates.items() if not isinstance(g, NotConfiguredGate))

    def refresh(self) -> None:
        """Drop what gates cache between reports (a gate with a `refresh()` method)."""
        for gate in self._gates.values():
            refresh = getattr(gate, "refresh", None)
            if callable(refresh):
                refresh()

    def results(self, tier: Tier) -> list[GateResult]:
        """Check every gate, in the fixed order, with waivers applied."""
        today = dt.datetime.fromtimestamp(self._clock.wall(), tz=dt.UTC).date()
        results = []
        for name in GATE_NAMES:
            result = self._check(self._gates[name], tier)
            waiver = self._waivers.get(name)
            results.append(result.with_waiver(waiver, today) if waiver else result)
        return results

    @staticmethod
    def _check(gate: Gate, tier: Tier) -> GateResult:
        try:
            return gate.check(tier)
        except Exception as exc:  # a broken check must fail its gate, not the whole report
            return GateResult(
                name=gate.name,
                question=GATE_QUESTIONS[gate.name],
                status=Status.FAIL,
                evidence={"check_error": f"{type(exc).__name__}: {exc}"},
                caveats=("the gate's check raised; its evidence is unknown",),
            )
