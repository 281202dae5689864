"""The request budget: one absolute deadline per request in a ContextVar; the nearest wins.

The edge sets it; everything below reads it: `remaining()` caps pool acquires, retry sleeps,
attempt timeouts and client timeouts; `deadline_scope()` narrows it for a block and enforces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import NamedTuple

from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.errors import ConfigError, DeadlineExceeded

__all__ = [
    "Budget",
    "cap",
    "current_budget",
    "deadline_scope",
    "ensure_time_left",
    "remaining",
]


class Budget(NamedTuple):
    """An absolute deadline on `clock`'s monotonic time, and where it came from."""

    deadline: float
    source: str
    clock: Clock = SYSTEM_CLOCK

    def remaining(self) -> float:
        """Seconds left (negative once spent)."""
        return self.deadline - self.clock.monotonic()


# The edge builds one Budget per request; the C tuple constructor skips a Python frame.
new_budget = tuple.__new__


_CURRENT: ContextVar[Budget | None] = ContextVar("hardened_deadline", default=None)


def current_budget() -> Budget | None:
    """The budget in force in this context, or None outside any request or scope."""
    return _CURRENT.get()


def remaining() -> float | None:
    """Seconds left of the budget in force (may be ≤ 0), or None when there is none."""
    budget = _CURRENT.get()
    return None if budget is None else budget.deadline - budget.clock.monotonic()


def cap(seconds: float) -> float:
    """`seconds` capped by the budget left (never below 0); `seconds` when there is none."""
    left = remaining()
    if left is None:
        return seconds
    return max(0.0, min(seconds, left))


def ensure_time_left(what: str = "the work") -> float:
    """Raise `DeadlineExceeded` when the budget is spent; else the seconds left (inf if none)."""
    left = remaining()
    if left is None:
        return math.inf
    if left <= 0:
        raise DeadlineExceeded(f"no time left for {what}")
    return left


@contextlib.asynccontextmanager
async def deadline_scope(
    seconds: float, *, clock: Clock | None = None, source: str = "scope"
) -> AsyncIterator[Budget]:
    """Run a block under `seconds` more budget, or less when the budget in force is nearer.

    The block is cancelled when the effective deadline passes and `DeadlineExceeded` is raised
    (a `TimeoutError`, answered 504 at the edge). Outbound calls inside see the narrowed budget.
    """
    if not math.isfinite(seconds):
        raise ConfigError("a deadline scope needs a finite number of seconds")
    outer = _CURRENT.get()
    clock = clock or (outer.clock if outer is not None else SYSTEM_CLOCK)
    mine = clock.monotonic() + seconds
    budget = outer if outer is not None and outer.deadline <= mine else Budget(mine, source, clock)
    left = budget.deadline - clock.monotonic()
    if left <= 0:
        raise DeadlineExceeded(f"the {budget.source} budget was already spent")
    token = _CURRENT.set(budget)
    try:
        async with asyncio.timeout(left) as timer:
            yield budget
    except TimeoutError as exc:
        if timer.expired() and not isinstance(exc, DeadlineExceeded):
            raise DeadlineExceeded(f"the {budget.source} budget of the block ran out") from exc
        raise
    finally:
        _CURRENT.reset(token)
