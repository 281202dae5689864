"""Lifecycle counters, and their export in the uniform mechanism-state schema (read at scrape
time: no hot-path cost)."""

from __future__ import annotations

from collections.abc import Callable

from hardened.lifecycle._config import LifecycleConfig

__all__ = ["LifecycleStats", "SlowClientStats", "lifecycle_state"]


class LifecycleStats:
    """Counters and the in-flight gauge (plain integers, read by the gate and the metrics)."""

    __slots__ = ("in_flight", "peak_in_flight", "rejected_busy", "rejected_declared", "stopped")

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rejected_busy = 0
        self.rejected_declared = 0
        self.stopped = 0

    def new_peak(self, in_flight: int) -> None:
        """Note `in_flight` as the highest count so far."""
        self.peak_in_flight = in_flight


class SlowClientStats:
    """What the server's protocols did to slow clients (plain counters, shared by connections)."""

    __slots__ = ("body_timeouts", "discarded_bytes", "header_timeouts", "lingered", "refused_heads")

    def __init__(self) -> None:
        self.refused_heads = 0  # 431 (over the header bounds) or 400 (ambiguous framing)
        self.header_timeouts = 0
        self.body_timeouts = 0
        self.lingered = 0
        self.discarded_bytes = 0


def lifecycle_state(
    config: LifecycleConfig,
    stats: LifecycleStats,
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
