"""The breaker's sliding window of 1 s buckets: what it counts, and for exactly how long."""

from __future__ import annotations

import random

import pytest

from hardened.breaker._window import RateWindow

WINDOW = 10


def expected(calls: list[tuple[int, bool, bool]], now: float) -> tuple[int, int, int]:
    """(calls, failures, slow) of the calls whose second is one of the last WINDOW seconds."""
    kept = [(f, s) for second, f, s in calls if int(now) - WINDOW < second <= int(now)]
    return len(kept), sum(f for f, _ in kept), sum(s for _, s in kept)


@pytest.mark.parametrize("start", [0.0, 0.5, 1000.0, 1000.75])
def test_a_call_counts_for_exactly_the_window_seconds(start: float) -> None:
    """A call in second s is counted while the clock reads s .. s+9, and gone at s+10."""
    window = RateWindow(WINDOW)
    second = int(start)
    window.add(start, failure=True, slow=True)
    assert window.counts(second + 9.999) == (1, 1, 1)
    assert window.counts(second + 10.0) == (0, 0, 0)
    window.add(second + 9.5, failure=False, slow=False)
    assert (window.calls, window.failures, window.slow) == (2, 1, 1)
    window.add(second + 10.0, failure=False, slow=True)
    assert (window.calls, window.failures, window.slow) == (2, 0, 1)
    assert window.counts(second + 10.0) == (2, 0, 1)


def test_after_a_clear_a_call_counts_for_the_whole_window_again() -> None:
    """A state change clears the window; the next call, even at clock 0, counts for 10 s."""
    window = RateWindow(WINDOW)
    window.add(0.2, failure=True, slow=False)
    window.clear()
    assert (window.calls, window.failures, window.slow) == (0, 0, 0)
    assert window.counts(0.2) == (0, 0, 0)
    window.add(0.5, failure=True, slow=True)
    assert window.counts(9.5) == (1, 1, 1)
    window.add(10.5, failure=False, slow=False)
    assert (window.calls, window.failures, window.slow) == (1, 0, 0)


@pytest.mark.parametrize("gap", range(WINDOW, 3 * WINDOW))
def test_a_silence_of_a_window_or_more_forgets_every_call(gap: int) -> None:
    """After 10 s or more without a call, only the new call is counted."""
    window = RateWindow(WINDOW)
    for offset in range(WINDOW):
        window.add(1000.3 + offset, failure=True, slow=True)
    window.add(1009.3 + gap, failure=False, slow=False)
    assert (window.calls, window.failures, window.slow) == (1, 0, 0)
    assert window.counts(1009.3 + gap) == (1, 0, 0)


def test_running_sums_and_reads_match_a_recount_over_a_long_mixed_run() -> None:
    """Calls at uneven pace (bursts, pauses, long gaps) keep the sums equal to a recount."""
    rng = random.Random(7)
    window = RateWindow(WINDOW)
    now = 1000.0
    calls: list[tuple[int, bool, bool]] = []
    for step in range(3000):
        now += rng.choice([0.0, 0.05, 0.4, 1.0, 1.7, 3.0]) if step % 200 else 12.5
        failure, slow = rng.random() < 0.4, rng.random() < 0.3
        window.add(now, failure=failure, slow=slow)
        calls = [c for c in calls if c[0] > now - 2 * WINDOW] + [(int(now), failure, slow)]
        assert (window.calls, window.failures, window.slow) == expected(calls, now), step
        later = now + rng.choice([0.0, 4.2, 9.9, 10.0, 15.0])
        assert window.counts(later) == expected(calls, later), step


def test_a_result_read_from_the_clock_before_another_write_still_counts() -> None:
    """A call that ended a second earlier than the last recorded one is counted with it."""
    window = RateWindow(WINDOW)
    window.add(1005.2, failure=False, slow=False)
    window.add(1004.9, failure=True, slow=True)
    assert (window.calls, window.failures, window.slow) == (2, 1, 1)
    assert window.counts(1005.2) == (2, 1, 1)
    assert window.counts(1015.0) == (0, 0, 0)
