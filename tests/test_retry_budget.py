"""The retry budget: the ratio of calls, the floor per second, the window, and what it reports."""

from __future__ import annotations

import copy
import math
import random

import pytest

from hardened.retry import RetryBudget


def budget(ratio: float = 0.2, floor: int = 3, window: float = 10.0) -> RetryBudget:
    return RetryBudget(ratio=ratio, min_per_second=floor, window=window)


def spend(b: RetryBudget, now: float) -> int:
    """Retries taken at `now` until the budget refuses one."""
    taken = 0
    while b.withdraw(now):
        taken += 1
    return taken


@pytest.mark.parametrize(
    ("calls", "allowed"), [(0, 0), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (10, 5)]
)
def test_retries_stay_under_the_ratio_of_calls(calls: int, allowed: int) -> None:
    """With ratio 0.5 and no floor, a retry passes while retries < 0.5 x calls: 3 calls allow 2,
    4 calls allow 2 (the third would reach 0.5 x 4)."""
    b = budget(ratio=0.5, floor=0)
    for _ in range(calls):
        b.deposit(1000.0)
    assert spend(b, 1000.0) == allowed
    assert (b.retries_total, b.refused_total) == (allowed, 1)


def test_the_floor_allows_min_per_second_and_renews_each_second() -> None:
    """With no ratio, 3 retries pass in a second, the 4th is refused until the next second."""
    b = budget(ratio=0.0, floor=3)
    assert spend(b, 1000.1) == 3
    assert not b.withdraw(1000.99)
    assert spend(b, 1001.0) == 3
    assert spend(b, 1001.5) == 0
    assert spend(b, 1003.2) == 3
    assert (b.retries_total, b.refused_total) == (9, 5)


def test_the_ratio_is_spent_before_the_floor_and_left_counts_both() -> None:
    """20 % of 10 calls, then 3 from the floor: `left` reads 5, 4, ... 0, and 3 the next second."""
    b = budget()
    for _ in range(10):
        b.deposit(1000.0)
    lefts = []
    while True:
        lefts.append(b.left(1000.5))
        if not b.withdraw(1000.5):
            break
    assert lefts == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    assert b.left(1001.0) == 3.0


def test_left_is_what_withdraw_would_allow_now() -> None:
    """7 calls at 20 % are 1.4 retries: two pass (the second while 1 < 1.4), so `left` says
    2 + 3 from the floor, and each reading matches the retries then actually taken."""
    b = budget()
    for _ in range(7):
        b.deposit(1000.0)
    assert b.left(1000.0) == 5
    assert b.left(1000.0 + 9.999) == 5
    assert b.left(1000.0 + 10.0) == 3
    for now in (1000.0, 1000.2, 1001.0, 1001.0):
        assert b.left(now) == spend(copy.deepcopy(b), now)
        b.withdraw(now)


def test_calls_and_retries_leave_the_budget_after_exactly_the_window() -> None:
    """Calls and retries of second s count until s+9 and are gone at s+10."""
    b = budget(ratio=0.5, floor=0)
    for _ in range(4):
        b.deposit(1000.3)
    assert spend(b, 1000.3) == 2
    for _ in range(4):
        b.deposit(1009.9)
    assert (b.calls, b.retries) == (8, 2)
    assert spend(b, 1009.9) == 2
    b.deposit(1010.0)
    assert (b.calls, b.retries) == (5, 2)
    assert spend(b, 1010.0) == 1
    assert b.left(1019.9) == 0
    assert b.left(1020.0) == 0.0
    b.deposit(1020.0)
    assert (b.calls, b.retries) == (1, 0)


def test_a_call_at_clock_zero_leaves_at_ten_seconds() -> None:
    """On a clock that starts at 0, the first second's calls are gone at 10 s like any other."""
    b = budget(ratio=0.5, floor=0)
    b.deposit(0.5)
    b.deposit(9.5)
    assert b.calls == 2
    b.deposit(10.0)
    assert b.calls == 2
    assert b.left(10.0) == 1.0


def test_a_call_read_from_the_clock_before_another_write_still_counts() -> None:
    """A deposit a second earlier than the last one lands in the newest second, not a stale one."""
    b = budget(ratio=0.5, floor=0)
    b.deposit(1005.2)
    b.deposit(1004.9)
    assert b.calls == 2
    assert spend(b, 1005.3) == 1
    assert b.left(1014.9) == 0.0
    b.deposit(1015.0)
    assert (b.calls, b.retries) == (1, 0)


@pytest.mark.parametrize("start", [0.0, 0.4, 1000.0])
def test_decisions_and_reads_match_a_recount_over_a_long_mixed_run(start: float) -> None:
    """Calls and retries at uneven pace keep every decision, sum and `left` equal to a recount
    of the last ten seconds."""
    rng = random.Random(11)
    b = budget(ratio=0.25, floor=2)
    events: list[tuple[int, str]] = []
    floor_second, floor_used = -1, 0
    taken = refused = 0
    now = start
    for step in range(2000):
        now += rng.choice([0.0, 0.0, 0.1, 0.3, 1.0, 2.5]) if step % 300 != 299 else 11.0
        second = int(now)
        events = [e for e in events if e[0] > second - 20]
        recent = [kind for at, kind in events if second - 10 < at <= second]
        calls, retries = recent.count("call"), recent.count("retry")
        if rng.random() < 0.6:
            b.deposit(now)
            events.append((second, "call"))
            calls += 1
        else:
            allowed = True
            if retries >= 0.25 * calls:
                if second != floor_second:
                    floor_second, floor_used = second, 0
                allowed = floor_used < 2
                floor_used += allowed
            assert b.withdraw(now) is allowed, step
            if allowed:
                events.append((second, "retry"))
                retries += 1
                taken += 1
            else:
                refused += 1
        assert (b.calls, b.retries) == (calls, retries), step
        floor = 2 - (floor_used if second == floor_second else 0)
        assert b.left(now) == max(0, math.ceil(0.25 * calls) - retries) + floor, step
    assert (b.retries_total, b.refused_total) == (taken, refused)
    assert taken > 50
    assert refused > 50
