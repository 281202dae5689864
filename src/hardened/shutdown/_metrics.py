"""Shutdown state as metrics, read at scrape time from the manager (no state of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hardened.errors import ConfigError

if TYPE_CHECKING:
    from hardened.shutdown._manager import ShutdownManager

__all__ = ["PHASES", "ShutdownCollector", "current_phase"]

PHASES = ("serving", "deregistering", "draining", "teardown", "done")


def current_phase(manager: ShutdownManager) -> str:
    """Where the shutdown is: one of `PHASES`."""
    report = manager.report
    if report is None:
        return "serving"
    if report.outcome != "in progress":
        return "done"
    if "teardown" in report.phase_starts:
        return "teardown"
    return "draining" if manager.draining else "deregistering"


class ShutdownCollector(Collector):
    """`hardened_shutdown_phase{phase}` and `hardened_shutdown_budget_seconds{term}`."""

    def __init__(self, manager: ShutdownManager) -> None:
        self._manager = manager

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names only: registering must not read the manifest (no work at import time)."""
        yield GaugeMetricFamily("hardened_shutdown_phase", "", labels=["phase"])
        yield GaugeMetricFamily("hardened_shutdown_budget_seconds", "", labels=["term"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        phase = GaugeMetricFamily(
            "hardened_shutdown_phase", "1 for the shutdown phase in progress", labels=["phase"]
        )
        now = current_phase(self._manager)
        for name in PHASES:
            phase.add_metric([name], 1.0 if name == now else 0.0)
        yield phase
        budget = GaugeMetricFamily(
            "hardened_shutdown_budget_seconds",
            "Each term of the shutdown budget and the grace period it must fit",
            labels=["term"],
        )
        try:
            terms = self._manager.budget()
        except ConfigError:
            return
        for term, value in (
            ("prestop", terms.prestop),
            ("deregistration_delay", terms.deregistration_delay),
            ("drain", terms.drain),
            ("teardown", terms.teardown),
            ("margin", terms.margin),
            ("total", terms.total),
            ("grace_period", terms.grace_period),
        ):
            budget.add_metric([term], value)
        yield budget
