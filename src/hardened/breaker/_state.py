"""Breaker and bulkhead state in the uniform mechanism-state schema (kinds ``breaker`` and
``bulkhead``): read at each scrape and `/gates` check, never moving the window."""

from __future__ import annotations

from hardened.breaker._breaker import CircuitBreaker
from hardened.breaker._bulkhead import Bulkhead
from hardened.gates import StateFields

__all__ = ["breaker_state", "bulkhead_state"]


def breaker_state(breaker: CircuitBreaker, now: float) -> StateFields:
    """State, window rates, open time left and trip counts of one breaker."""
    calls, failures, slow = breaker.window.counts(now)
    return {
        "state": breaker.state.value,
        "calls_in_window": calls,
        "failure_rate": round(failures / calls, 4) if calls else 0.0,
        "slow_rate": round(slow / calls, 4) if calls else 0.0,
        "retry_after_s": round(breaker.retry_after(now), 3),
        "opened_total": breaker.opened_total,
        "rejected_total": breaker.rejected_total,
        "stale_results_total": breaker.stale_total,
    }


def bulkhead_state(bulkhead: Bulkhead) -> StateFields:
    """Slots in use, callers waiting, the bound and the rejections of one bulkhead."""
    return {
        "in_use": bulkhead.in_use,
        "waiting": bulkhead.waiting,
        "max_concurrent": bulkhead.config.max_concurrent,
        "rejected_total": bulkhead.rejected_total,
    }
