"""Summaries of open-loop outcomes: goodput, admitted latency, timeouts, rejections, priorities."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks._client import Outcome
from benchmarks._stats import percentile

__all__ = ["REJECTED", "SPLIT_PARTS", "latency_split", "per_second", "summarize"]

REJECTED = frozenset({503, 429})
# The parts of `Outcome.split`, in order.
SPLIT_PARTS = ("before_handler", "handler", "after_handler")


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
    lags = [o.lag for o in outcomes]
    summary["client_lag_p50_s"] = percentile(lags, 50)
    summary["client_lag_p99_s"] = percentile(lags, 99)
    summary["client_lag_max_s"] = max(lags, default=math.nan)
    by_priority: dict[str, dict[str, float]] = {}
    for priority in sorted({o.priority for o in outcomes if o.priority}):
        mine = [o for o in outcomes if o.priority == priority]
        admitted = [o.latency for o in mine if o.ok]
        by_priority[priority] = {
            "sent": len(mine),
            "ok_fraction": _fraction(sum(o.ok for o in mine), len(mine)),
            "share_of_rejections": _fraction(
                sum(1 for o in rejected if o.priority == priority), len(rejected)
            ),
            "admitted_p50_s": percentile(admitted, 50),
            "admitted_p99_s": percentile(admitted, 99),
        }
    summary["by_priority"] = by_priority
    summary["latency_split"] = latency_split(ok)
    return summary


def latency_split(admitted: Sequence[Outcome]) -> dict[str, dict[str, float]]:
    """Where admitted requests' time went: per part of `Outcome.split` (plus the client's own
    lag), its p50, its p99, and its mean over the slowest 1 % of requests (what the p99 is made
    of). Empty when the server sent no timings."""
    timed = [o for o in admitted if o.split is not None]
    if not timed:
        return {}
    slowest = sorted(timed, key=lambda o: o.latency)[-max(1, len(timed) // 100) :]
    parts: dict[str, dict[str, float]] = {}
    for index, name in enumerate(("client_lag", *SPLIT_PARTS)):

        def part(o: Outcome, index: int = index) -> float:
            assert o.split is not None
            return o.lag if index == 0 else o.split[index - 1]

        values = [part(o) for o in timed]
        parts[name] = {
            "p50_s": percentile(values, 50),
            "p99_s": percentile(values, 99),
            "slowest_1pct_mean_s": sum(part(o) for o in slowest) / len(slowest),
        }
    return parts


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
