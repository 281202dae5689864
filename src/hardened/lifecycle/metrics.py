"""Lifecycle state in the uniform mechanism-state schema, read at scrape time (no hot-path cost)."""

from __future__ import annotations

from collections.abc import Callable

from hardened.lifecycle.config import LifecycleConfig
from hardened.lifecycle.edge import EdgeStats, SlowClientStats

__all__ = ["lifecycle_state"]


def lifecycle_state(
    config: LifecycleConfig,
    stats: EdgeStats,
    slow_clients: Callable[[], SlowClientStats | None],
) -> dict[str, float]:
    """In-flight requests and their bound, edge rejections, slow-client closes."""
    state: dict[str, float] = {
        "in_flight": stats.in_flight,
        "in_flight_limit": config.max_in_flight,
        "rejected_in_flight_limit_total": stats.rejected_busy,
        "rejected_body_declared_too_large_total": stats.rejected_declared,
        "body_stopped_at_limit_total": stats.stopped,
    }
    slow = slow_clients()
    if slow is not None:  # only under `hardened run`, whose protocols enforce the timeouts
        state["header_timeout_closes_total"] = slow.header_timeouts
        state["body_timeout_closes_total"] = slow.body_timeouts
        state["lingering_closes_total"] = slow.lingered
    return state
