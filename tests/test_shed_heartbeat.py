"""The queue-delay heartbeat and the Gradient2 limit, tick by tick on a hand-driven loop clock."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any, cast

import pytest

from hardened.shed import CoDel, Gradient2, QueueDelayMonitor


class _Handle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualLoop:
    """A loop clock the test moves by hand: `call_at` timers run when `run_until` passes them."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[_Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> _Handle:
        handle = _Handle(when, callback)
        self.timers.append(handle)
        return handle

    def tick_late(self, lag: float) -> None:
        """Run the next pending timer `lag` seconds after it was due."""
        pending = [h for h in self.timers if not h.cancelled]
        assert len(pending) == 1, "the heartbeat keeps exactly one timer"
        handle = pending[0]
        self.timers.remove(handle)
        self.now = handle.when + lag
        handle.callback()

    def pending(self) -> int:
        return sum(1 for h in self.timers if not h.cancelled)


def _monitor(
    activity: Callable[[], tuple[int, int]] | None = None, idle_after: float | None = None
) -> tuple[QueueDelayMonitor, ManualLoop]:
    codel = CoDel(0.02, 0.1)
    if idle_after is None:  # the constructor's own default
        monitor = QueueDelayMonitor(0.01, codel, activity=activity)
    else:
        monitor = QueueDelayMonitor(0.01, codel, activity=activity, idle_after=idle_after)
    loop = ManualLoop()
    monitor.ensure_running(cast(asyncio.AbstractEventLoop, loop))
    return monitor, loop


def test_each_tick_measures_its_lag_and_schedules_the_next() -> None:
    """A tick 7 ms late reads 7 ms of queue delay and is due again one period later."""
    monitor, loop = _monitor()
    assert monitor.due == pytest.approx(100.01)
    loop.tick_late(0.007)
    assert monitor.last == pytest.approx(0.007)
    assert monitor.due == pytest.approx(loop.now + 0.01)
    assert loop.pending() == 1


def test_current_delay_grows_while_the_next_tick_is_late() -> None:
    """Between ticks the delay is the last lag, or how late the next tick already is."""
    monitor, loop = _monitor()
    loop.tick_late(0.005)
    assert monitor.current(monitor.due + 0.001) == pytest.approx(0.005)
    assert monitor.current(monitor.due + 0.3) == pytest.approx(0.3)
    monitor.stop()
    assert monitor.current(1e9) == pytest.approx(0.005), "a stopped heartbeat is not late"


def test_sustained_lag_makes_the_codel_overloaded_through_the_ticks() -> None:
    """Ticks 30 ms late for more than the 100 ms interval: the queue is overloaded."""
    monitor, loop = _monitor()
    for _ in range(6):
        loop.tick_late(0.03)
    assert monitor.codel.overloaded is True
    assert monitor.codel.episodes == 1


def _jump(monitor: QueueDelayMonitor, loop: ManualLoop, to: float) -> None:
    """Move the pending tick (and what the heartbeat expects) to loop time `to`."""
    monitor.due = loop.timers[-1].when = to


def test_recent_max_covers_this_and_the_previous_five_second_window() -> None:
    """The max lag is kept over 5-10 s: one window back is kept, two windows back is dropped."""
    monitor, loop = _monitor()
    _jump(monitor, loop, 1000.0)  # window 200
    loop.tick_late(0.05)
    assert monitor.recent_max() == pytest.approx(0.05)
    _jump(monitor, loop, 1005.0)  # window 201: the previous one is kept
    loop.tick_late(0.001)
    assert monitor.recent_max() == pytest.approx(0.05)
    _jump(monitor, loop, 1010.0)  # window 202: the 0.05 is two windows back
    loop.tick_late(0.002)
    assert monitor.recent_max() == pytest.approx(0.002)
    _jump(monitor, loop, 1014.0)  # same window 202: the max accumulates
    loop.tick_late(0.001)
    assert monitor.recent_max() == pytest.approx(0.002)
    _jump(monitor, loop, 1030.0)  # a gap of several windows: nothing old is kept
    loop.tick_late(0.0)
    assert monitor.recent_max() == 0.0
    _jump(monitor, loop, 1044.0)  # window 208
    loop.tick_late(0.04)
    _jump(monitor, loop, 1050.5)  # window 210: two windows on, though only 6.5 s later
    loop.tick_late(0.0)
    assert monitor.recent_max() == 0.0, "windows are 5 s long"


def test_stop_cancels_the_timer_and_a_late_tick_does_nothing() -> None:
    """After stop() nothing is scheduled, and a tick that still fires measures nothing."""
    monitor, loop = _monitor()
    handle = loop.timers[-1]
    monitor.stop()
    assert handle.cancelled
    assert monitor.loop is None
    handle.callback()
    assert monitor.last == 0.0
    assert loop.pending() == 0
    monitor.stop()  # idempotent


def test_without_an_idle_pause_the_heartbeat_never_stops() -> None:
    """`idle_after` 0 (the default), or no activity reader: an idle service keeps its heartbeat."""
    quiet: list[tuple[Callable[[], tuple[int, int]] | None, float | None]] = [
        (lambda: (1, 0), None),
        (None, 0.03),
    ]
    for activity, idle_after in quiet:
        monitor, loop = _monitor(activity=activity, idle_after=idle_after)
        assert monitor.recent_max() == 0.0, "nothing measured yet"
        for _ in range(500):
            loop.tick_late(0.0)
        assert monitor.pauses == 0
        assert loop.pending() == 1


@pytest.mark.parametrize("seen", [0, 1, 7])
def test_idle_pause_after_exactly_the_quiet_ticks(seen: int) -> None:
    """idle_after 30 ms at a 10 ms period: the first tick records the activity, the quiet clock
    starts at the second, and the tick 30 ms after that (the 5th) pauses."""
    monitor, loop = _monitor(activity=lambda: (seen, 0), idle_after=0.03)
    for _ in range(4):
        loop.tick_late(0.0)
        assert loop.pending() == 1
    loop.tick_late(0.0)
    assert loop.pending() == 0
    assert (monitor.pauses, monitor.loop) == (1, None)
    monitor.ensure_running(cast(asyncio.AbstractEventLoop, loop))  # the next request
    for _ in range(3):
        loop.tick_late(0.0)
    assert loop.pending() == 1, "the quiet clock starts afresh after a restart"
    loop.tick_late(0.0)
    assert monitor.pauses == 2


@pytest.mark.parametrize(
    ("activity", "lag", "overloaded"),
    [
        ((5, 1), 0.0, False),  # a request in flight
        ((5, 0), 0.021, False),  # the queue is not calm
        ((5, 0), 0.0, True),  # an overload episode is not idle
    ],
)
def test_no_idle_pause_while_busy(activity: tuple[int, int], lag: float, overloaded: bool) -> None:
    """A request in flight, a lag above the target or an overload keep the heartbeat going."""
    monitor, loop = _monitor(activity=lambda: activity, idle_after=0.03)
    monitor.codel.overloaded = overloaded
    for _ in range(8):  # twice the quiet ticks, within one CoDel interval
        loop.tick_late(lag)
    assert monitor.pauses == 0


def test_new_requests_reset_the_quiet_count() -> None:
    """Each tick that sees new requests starts the quiet count again."""
    counter = [0]

    def activity() -> tuple[int, int]:
        counter[0] += 1
        return counter[0], 0

    monitor, loop = _monitor(activity=activity, idle_after=0.03)
    for _ in range(20):
        loop.tick_late(0.0)
    assert monitor.pauses == 0


def test_codel_boundaries_and_episodes() -> None:
    """At the target is not above it; clearing takes exactly the interval; episodes count."""
    codel = CoDel(target=0.02, interval=0.1)
    assert codel.overloaded is False
    assert not codel.update(0.0, 0.02)
    assert codel.above_since is None
    codel.update(1.0, 0.03)
    assert codel.update(1.1, 0.03) is True
    assert codel.update(1.2, 0.01) is True
    assert codel.update(1.3, 0.01) is False, "cleared after exactly the interval below"
    assert codel.overloaded is False
    codel.update(2.0, 0.03)
    codel.update(2.1, 0.03)
    assert codel.episodes == 2
    exact = CoDel(target=0.02, interval=0.25)  # times a binary float holds exactly
    exact.update(2.0, 0.03)
    assert exact.update(2.25, 0.03) is True, "overloaded after exactly the interval above"
    exact.update(3.0, 0.01)
    assert exact.update(3.25, 0.01) is False, "cleared after exactly the interval below"


def _gradient(**overrides: Any) -> Gradient2:
    settings: dict[str, Any] = {
        "initial": 20,
        "min_limit": 5,
        "max_limit": 1000,
        "smoothing": 0.2,
        "tolerance": 1.5,
    }
    return Gradient2(**{**settings, **overrides})


def test_gradient2_first_samples_set_the_averages() -> None:
    """No RTT before a sample; the first sets both; then short moves by 1/10, long by 2/601."""
    limit = _gradient()
    assert limit.rtts == (0.0, 0.0)
    assert limit.learned, "no warm-up unless asked"
    limit.on_sample(0.0, inflight=1)
    assert limit.samples == 0, "a zero RTT is no measurement"
    limit.on_sample(0.1, inflight=1)
    assert limit.rtts == (0.1, 0.1)
    limit.on_sample(0.2, inflight=1)
    long_rtt, short_rtt = limit.rtts
    assert short_rtt == pytest.approx(0.11)
    assert long_rtt == pytest.approx(0.1 + 0.1 * 2 / 601)
    assert limit.limit == 20.0, "app-limited samples neither grow nor shrink it"


def test_gradient2_grows_by_the_square_root_when_latency_holds() -> None:
    """At the limit with steady latency: L + smoothing·√L (the gradient is capped at 1)."""
    limit = _gradient()
    limit.on_sample(0.1, inflight=10)  # exactly half the limit: not app-limited
    assert limit.limit == pytest.approx(20 + 0.2 * math.sqrt(20))
    seven = _gradient()
    seven.on_sample(0.1, inflight=7)  # under half: app-limited
    assert seven.limit == 20.0


def test_gradient2_shrinks_when_latency_rises_and_respects_its_bounds() -> None:
    """Short RTT 4x the long one: the limit shrinks, never under min_limit nor over max_limit."""
    limit = _gradient(min_limit=18)
    limit.on_sample(0.1, inflight=20)
    for _ in range(30):
        limit.on_sample(2.0, inflight=20)
    assert limit.limit == 18.0
    capped = _gradient(max_limit=20)
    capped.on_sample(0.1, inflight=20)
    assert capped.limit == 20.0


def test_gradient2_forgets_a_long_gone_slow_period_quickly() -> None:
    """Long RTT over twice the short one decays 5 % a sample, much faster than its average."""
    limit = _gradient()
    limit.on_sample(0.25, inflight=1)
    for _ in range(40):
        limit.on_sample(0.1, inflight=1)
    long_rtt, short_rtt = limit.rtts
    assert short_rtt == pytest.approx(0.1, abs=0.005)
    assert long_rtt < 0.2, "decayed, not just averaged (0.22 without the decay)"
    assert long_rtt > 0.1
