"""Gates: the eight verifiable questions, their results, tiers, waivers and the report."""

from hardened.gates._gate import GATE_NAMES, GATE_QUESTIONS, Gate, NotConfiguredGate
from hardened.gates._install import FactReader, Installer, Mechanism, StateFields
from hardened.gates._report import HONESTY_WARNING, GateBoard, build_report
from hardened.gates._result import GateResult, Status, Tier, Waiver

__all__ = [
    "GATE_NAMES",
    "GATE_QUESTIONS",
    "HONESTY_WARNING",
    "FactReader",
    "Gate",
    "GateBoard",
    "GateResult",
    "Installer",
    "Mechanism",
    "NotConfiguredGate",
    "StateFields",
    "Status",
    "Tier",
    "Waiver",
    "build_report",
]
