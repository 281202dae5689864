"""CircuitBreaker: the state machine in front of one dependency, on the injected Clock.

::

    closed ──(rate ≥ threshold after min_calls)──► open ──(open_for elapsed)──► half_open
      ▲                                              ▲                            │
      └──────────(every probe succeeded)─────────────┼────────(a probe failed)────┘

A caller takes a permit with `acquire()` (the state epoch) and hands it back with `record()`
or `release()`. Every transition starts a new epoch, so a call that began before a trip cannot
close the breaker afterwards: its result is stale and ignored. Operators may force it open or
disable it; `reset()` closes it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from hardened.breaker._config import BreakerConfig
from hardened.breaker._window import RateWindow
from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.errors import CircuitOpen

__all__ = ["BreakerState", "CircuitBreaker", "Transition"]


class BreakerState(enum.StrEnum):
    """Where a breaker is; `forced_open` and `disabled` are an operator's decision."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


Transition = Callable[[str, BreakerState, BreakerState], None]
_CLOSED, _OPEN, _HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
_DISABLED, _FORCED = BreakerState.DISABLED, BreakerState.FORCED_OPEN


class CircuitBreaker:
    """A rate-based breaker with half-open probe permits, epochs and open-time backoff."""

    __slots__ = (
        "_clock",
        "_epoch",
        "_on_transition",
        "_open_until",
        "_permits",
        "_probe_successes",
        "_state",
        "_trips",
        "config",
        "name",
        "opened_total",
        "rejected_total",
        "slow_call",
        "stale_total",
        "window",
    )

    def __init__(
        self,
        name: str,
        config: BreakerConfig | None = None,
        *,
        slow_call: float,
        clock: Clock = SYSTEM_CLOCK,
        on_transition: Transition | None = None,
    ) -> None:
        self.name = name
        self.config = config or BreakerConfig()
        self.slow_call = self.config.slow_call or slow_call
        self.window = RateWindow(self.config.buckets)
        self._clock = clock
        self._on_transition = on_transition
        self._state = _CLOSED
        self._epoch = 0
        self._open_until = 0.0
        self._permits = 0
        self._probe_successes = 0
        self._trips = 0  # consecutive trips without closing: the open time backs off on them
        self.opened_total = self.rejected_total = self.stale_total = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past its open time reads as half-open)."""
        if self._state is _OPEN and self._clock.monotonic() >= self._open_until:
            return _HALF_OPEN
        return self._state

    @property
    def epoch(self) -> int:
        """The number of the current state period; permits carry it."""
        return self._epoch

    def acquire(self) -> int:
        """A permit to call now (the epoch), or `CircuitOpen` carrying `retry_after`."""
        state = self._state
        if state is _CLOSED or state is _DISABLED:
            return self._epoch
        now = self._clock.monotonic()
        if state is _OPEN and now >= self._open_until:
            self._move(_HALF_OPEN)
            state = _HALF_OPEN
        if state is _HALF_OPEN and self._permits > 0:
            self._permits -= 1
            return self._epoch
        self.rejected_total += 1
        wait = self.retry_after(now)
        raise CircuitOpen(f"the {self.name} breaker is {state.value}", retry_after=wait)

    def retry_after(self, now: float | None = None) -> float:
        """Seconds before a call may pass (0 while closed or disabled)."""
        state = self._state
        if state is _CLOSED or state is _DISABLED:
            return 0.0
        now = self._clock.monotonic() if now is None else now
        if state is _OPEN:
            return max(0.0, self._open_until - now)
        if state is _HALF_OPEN:
            return 0.0 if self._permits > 0 else min(self.config.open_for, 1.0)
        return self.config.open_for

    def release(self, epoch: int) -> None:
        """Give back a permit whose call neither succeeded nor failed (cancelled, ignored)."""
        if epoch == self._epoch and self._state is _HALF_OPEN:
            self._permits += 1

    def record(self, epoch: int, *, failure: bool, slow: bool, now: float) -> None:
        """The outcome of a call that took permit `epoch` and ended at `now`."""
        if epoch != self._epoch:
            self.stale_total += 1
            return
        state = self._state
        if state is _CLOSED:
            window = self.window
            window.add(now, failure=failure, slow=slow)
            # Checked after a success too: the call that fills the window to min_calls may be
            # one, with the rate already at the threshold.
            config = self.config
            if window.calls >= config.min_calls and (
                window.failures >= config.failure_rate * window.calls
                or window.slow >= config.slow_rate * window.calls
            ):
                self._trip(now)
        elif state is _HALF_OPEN:
            if failure or slow:
                self._trip(now)
                return
            self._probe_successes += 1
            if self._probe_successes >= self.config.probes:
                self._trips = 0
                self._move(_CLOSED)

    def open_duration(self) -> float:
        """How long the next trip keeps the breaker open (it backs off on repeated trips)."""
        config = self.config
        return min(config.max_open_for, config.open_for * config.backoff**self._trips)

    def force_open(self) -> None:
        """Reject every call until `reset()` (an operator isolating the dependency)."""
        self._move(_FORCED)

    def disable(self) -> None:
        """Let every call through and stop judging outcomes until `reset()`."""
        self._move(_DISABLED)

    def reset(self) -> None:
        """Close the breaker with an empty window and no backoff."""
        self._trips = 0
        self._move(_CLOSED)

    def _trip(self, now: float) -> None:
        self._open_until = now + self.open_duration()
        self._trips += 1
        self.opened_total += 1
        self._move(_OPEN)

    def _move(self, state: BreakerState) -> None:
        old = self._state
        self._state = state
        self._epoch += 1
        self._permits = self.config.probes if state is _HALF_OPEN else 0
        self._probe_successes = 0
        self.window.clear()
        if self._on_transition is not None and old is not state:
            self._on_transition(self.name, old, state)
