"""Open-loop summaries and the overload targets, on hand-made outcomes."""

from __future__ import annotations

import math
import random

import pytest

from benchmarks._client import Outcome, poisson_schedule
from benchmarks._outcomes import per_second, summarize
from benchmarks.overload import check_targets


def _outcomes() -> list[Outcome]:
    return [
        Outcome(0.1, 0.020, 200, priority="critical"),
        Outcome(0.2, 0.040, 200, priority="sheddable"),
        Outcome(0.5, 0.002, 503, priority="sheddable", retry_after=True),
        Outcome(1.2, 0.004, 503, priority="critical"),
        Outcome(1.5, 1.000, 0, "timeout", priority="sheddable"),
        Outcome(1.7, 0.001, 0, "refused", priority="sheddable"),
    ]


def test_summarize_counts_goodput_rejections_timeouts_and_errors() -> None:
    """2xx answers are goodput; 503s are rejections; timeouts and connection errors apart."""
    s = summarize(_outcomes(), duration=2.0)
    assert (s["sent"], s["ok"], s["rejected"], s["timeouts"], s["errors"]) == (6, 2, 2, 1, 1)
    assert s["goodput_rps"] == 1.0
    assert s["offered_rps"] == 3.0
    assert s["admitted_p50_s"] == pytest.approx(0.030)
    assert s["rejection_p50_s"] == pytest.approx(0.003)
    assert s["retry_after_fraction"] == 0.5
    assert s["other_status"] == 0


def test_summarize_splits_by_priority() -> None:
    """Each priority class reports its success rate, share of rejections and admitted latency."""
    by = summarize(_outcomes(), duration=2.0)["by_priority"]
    critical = {"sent": 2, "ok_fraction": 0.5, "share_of_rejections": 0.5}
    assert by["critical"] == {**critical, "admitted_p50_s": 0.020, "admitted_p99_s": 0.020}
    assert by["sheddable"]["admitted_p99_s"] == 0.040
    assert by["sheddable"]["ok_fraction"] == 0.25
    assert by["sheddable"]["share_of_rejections"] == 0.5


def test_latency_split_says_what_the_slowest_requests_waited_for() -> None:
    """The split's parts add up per request; the slowest 1 % mean shows what made the p99."""
    fast = [Outcome(i / 100, 0.012, 200, lag=0.001, split=(0.0, 0.01, 0.001)) for i in range(99)]
    slow = Outcome(1.0, 0.101, 200, lag=0.001, split=(0.09, 0.01, 0.0))
    split = summarize([*fast, slow], duration=1.0)["latency_split"]
    assert split["before_handler"]["slowest_1pct_mean_s"] == pytest.approx(0.09)
    assert split["before_handler"]["p50_s"] == 0.0
    assert split["handler"]["p50_s"] == pytest.approx(0.01)
    assert split["client_lag"]["p99_s"] == pytest.approx(0.001)
    assert summarize([*fast[:3], Outcome(0.5, 0.01, 200)], 1.0)["latency_split"]["handler"]
    assert summarize([Outcome(0.5, 0.01, 200)], 1.0)["latency_split"] == {}


def test_summarize_of_nothing_has_nan_rates_not_errors() -> None:
    """An empty run yields NaN fractions and percentiles rather than dividing by zero."""
    s = summarize([], duration=1.0)
    assert s["sent"] == 0
    assert math.isnan(s["timeout_fraction"])
    assert math.isnan(s["admitted_p99_s"])


def test_per_second_bins_by_due_time() -> None:
    """Outcomes fall in the 1-second bin of their scheduled time."""
    rows = per_second(_outcomes(), duration=2.0)
    assert [r["sent"] for r in rows] == [3.0, 3.0]
    assert [r["ok"] for r in rows] == [2.0, 0.0]
    assert [r["timeouts"] for r in rows] == [0.0, 1.0]
    assert math.isnan(rows[1]["p99_s"])


def test_check_targets_pass_for_a_good_shedder_and_fail_for_collapse() -> None:
    """Fast, labelled, sheddable-first rejections meet every target; mass timeouts miss them."""
    good = {
        "goodput_rps": 95.0,
        "goodput_fraction": 0.95,
        "timeouts": 0,
        "rejected": 200,
        "admitted_p99_s": 0.1,
        "rejection_p50_s": 0.002,
        "retry_after_fraction": 1.0,
        "by_priority": {
            "critical": {"ok_fraction": 0.995},
            "sheddable": {"share_of_rejections": 0.97},
        },
    }
    assert all(check_targets(good, unloaded_p99=0.05).values())
    collapse = {
        **good,
        "goodput_rps": 20.0,
        "goodput_fraction": 0.2,
        "timeouts": 500,
        "rejected": 0,
        "admitted_p99_s": 0.9,
    }
    result = check_targets(collapse, unloaded_p99=0.05)
    assert result["0 timeouts"] is False
    assert result["goodput ≥ 90 % of capacity"] is False
    assert result["rejection p50 ≤ 1.5 × queue-delay target"] is None


def test_poisson_schedule_is_bounded_seeded_and_near_its_rate() -> None:
    """Arrivals stay inside the window, repeat with the seed, and average close to the rate."""
    first = poisson_schedule(200.0, 10.0, random.Random(3))
    assert first == poisson_schedule(200.0, 10.0, random.Random(3))
    assert all(0 <= t < 10.0 for t in first)
    assert first == sorted(first)
    assert 1700 < len(first) < 2300
    assert poisson_schedule(0.0, 10.0, random.Random(3)) == []
