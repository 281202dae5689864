"""Summaries of open-loop outcomes: goodput, admitted latency, timeouts, rejections, priorities."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks._client import Outcome
from benchmarks._stats import percentile

__all__ = ["REJECTED", "per_second", "summarize"]

REJECTED = frozenset({503, 429})


def _fraction(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def summarize(outcomes: Sequence[Outcome], duration: float) -> dict[str, Any]:
    """One run's figures. Goodput counts 2xx answers (timeouts never are: the client gave up)."""
    n = len(outcomes)
    ok = [o for o in outcomes if o.ok]
    rejected = [o for o in outcomes if not o.error and o.status in REJECTED]
    timeouts = sum(1 for o in outcomes if o.error == "timeout")
    errors = sum(1 for o in outcomes if o.error and o.error != "timeout")
    other = n - len(ok) - len(rejected) - timeouts - errors
    summary: dict[str, Any] = {
        "sent": n,
        "offered_rps": n / duration if duration > 0 else math.nan,
        "goodput_rps": len(ok) / duration if duration > 0 else math.nan,
        "ok": len(ok),
        "admitted_p50_s": percentile([o.latency for o in ok], 50),
        "admitted_p99_s": percentile([o.latency for o in ok], 99),
        "timeouts": timeouts,
        "timeout_fraction": _fraction(timeouts, n),
        "rejected": len(rejected),
        "rejected_fraction": _fraction(len(rejected), n),
        "rejection_p50_s": percentile([o.latency for o in rejected], 50),
        "retry_after_fraction": _fraction(sum(o.retry_after for o in rejected), len(rejected)),
        "errors": errors,
        "other_status": other,
    }
    by_priority: dict[str, dict[str, float]] = {}
    for priority in sorted({o.priority for o in outcomes if o.priority}):
        mine = [o for o in outcomes if o.priority == priority]
        by_priority[priority] = {
            "sent": len(mine),
            "ok_fraction": _fraction(sum(o.ok for o in mine), len(mine)),
            "share_of_rejections": _fraction(
                sum(1 for o in rejected if o.priority == priority), len(rejected)
            ),
        }
    summary["by_priority"] = by_priority
    return summary


def per_second(outcomes: Sequence[Outcome], duration: float) -> list[dict[str, float]]:
    """Per 1-second bin of due time: goodput, rejections, timeouts, admitted p50 and p99."""
    bins = max(1, math.ceil(duration))
    rows: list[dict[str, float]] = []
    for second in range(bins):
        mine = [o for o in outcomes if second <= o.due < second + 1]
        ok = [o.latency for o in mine if o.ok]
        rows.append(
            {
                "t": float(second),
                "sent": float(len(mine)),
                "ok": float(len(ok)),
                "rejected": float(sum(1 for o in mine if not o.error and o.status in REJECTED)),
                "timeouts": float(sum(1 for o in mine if o.error == "timeout")),
                "p50_s": percentile(ok, 50),
                "p99_s": percentile(ok, 99),
            }
        )
    return rows
