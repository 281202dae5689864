"""An asyncio event loop on virtual time, for code that sleeps on the loop itself.

`FakeClock` serves everything that takes a `Clock`; code that schedules on the loop
(`call_later`, `asyncio.sleep`) needs the loop's own clock to move. This loop's `time()` starts
at 1000 and, whenever nothing is ready to run, jumps straight to its next timer instead of
waiting for it: a test of a 30 s lease takes milliseconds and never depends on machine speed,
and a wait bounded by `asyncio.timeout` fails at once when nothing else can happen.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")


class _Now:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 1000.0


class _JumpingSelector(selectors.DefaultSelector):
    """Polls instead of waiting, and moves virtual time by the wait it skipped."""

    def __init__(self, now: _Now) -> None:
        super().__init__()
        self._now = now

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:  # no timer at all: only I/O can wake the loop
            return super().select(None)
        events = super().select(0)
        if not events and timeout > 0:
            self._now.value += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector loop whose clock jumps to the next timer when the loop would idle."""

    def __init__(self) -> None:
        self._virtual = _Now()
        super().__init__(_JumpingSelector(self._virtual))

    def time(self) -> float:
        return self._virtual.value


class LoopClock:
    """A `Clock` reading the running loop's time (virtual on `VirtualTimeLoop`)."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return 1_767_225_600.0 + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a fresh `VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def on_virtual_time(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test function on a fresh `VirtualTimeLoop` (fixtures as usual)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        run_virtual(test(*args, **kwargs))

    return run
