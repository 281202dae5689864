"""Shutdown state in the uniform mechanism-state schema, read at scrape time from the manager."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hardened.errors import ConfigError

if TYPE_CHECKING:
    from hardened.shutdown._manager import ShutdownManager

__all__ = ["PHASES", "current_phase", "shutdown_state"]

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


def shutdown_state(manager: ShutdownManager) -> dict[str, str | float]:
    """The phase and every budget term (seconds); the terms are left out while unresolvable."""
    state: dict[str, str | float] = {"phase": current_phase(manager)}
    try:
        terms = manager.budget()
    except ConfigError:
        return state
    state.update(
        prestop_seconds=terms.prestop,
        deregistration_delay_seconds=terms.deregistration_delay,
        drain_seconds=terms.drain,
        teardown_seconds=terms.teardown,
        margin_seconds=terms.margin,
        total_seconds=terms.total,
        grace_period_seconds=terms.grace_period,
    )
    return state
