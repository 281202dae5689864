"""Deadline state in the uniform mechanism-state schema, read from the counters at scrape time."""

from __future__ import annotations

from hardened.deadline._config import DeadlineConfig
from hardened.deadline._stage import DeadlineStats

__all__ = ["deadline_state"]


def deadline_state(config: DeadlineConfig, stats: DeadlineStats) -> dict[str, float]:
    """The budget, requests by the budget's source, budgets spent (504), late arrivals refused."""
    state: dict[str, float] = {
        "default_timeout_seconds": config.default_timeout,
        "exceeded_total": stats.expired,
        "refused_late_total": stats.refused_late,
        "malformed_header_total": stats.malformed_header,
    }
    for source, count in stats.by_source.items():
        state[f"budget_from_{source}_total"] = count
    return state
