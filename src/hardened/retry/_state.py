"""The retry budget's state, in the uniform mechanism-state schema (kind ``retry_budget``)."""

from __future__ import annotations

from hardened.gates import StateFields
from hardened.retry._policy import RetryPolicy

__all__ = ["retry_state"]


def retry_state(policy: RetryPolicy, now: float) -> StateFields:
    """Budget left, retries taken and refused, and why retried calls stopped."""
    budget = policy.budget
    fields: dict[str, float | int | bool | str] = {
        "attempts": policy.config.attempts,
        "budget_left": round(budget.left(now), 3),
        "retries_total": budget.retries_total,
        "budget_refused_total": budget.refused_total,
    }
    for reason, count in policy.stops.items():
        fields[f"stopped_by_{reason}_total"] = count
    return fields
