"""offload(): sync work on a bounded thread pool, never on the loop, within the request's budget.

The pool has `offload_workers` threads and as many slots; a caller waits for a slot and for the
result under one budget: `min(timeout, the request deadline's remaining time)`. When the budget
is spent the caller gets `DeadlineExceeded` (504 at the edge); the thread cannot be killed, so it
keeps its slot until the function returns, and the pool's bound stays true.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar, TypeVarTuple

from hardened.deadline import remaining
from hardened.errors import ConfigError, DeadlineExceeded
from hardened.loop._state import LoopMetrics

__all__ = ["Offloader", "offload", "request_remaining"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# The pool serving each running loop, set while its Offloader runs (at start-up, never on import).
_POOLS: dict[int, tuple[asyncio.AbstractEventLoop, Offloader]] = {}


def request_remaining() -> float | None:
    """Seconds left before the current request's deadline; None when no deadline is in force.

    This is the one place offload() reads the request deadline (`hardened.deadline`).
    """
    return remaining()


class Offloader:
    """A bounded thread pool for sync work, deadline-aware, with its metrics."""

    deadline_usage = "wait for a thread + run: min(timeout, remaining())"

    def __init__(
        self,
        *,
        max_workers: int = 8,
        metrics: LoopMetrics | None = None,
        remaining: Callable[[], float | None] = request_remaining,
    ) -> None:
        if max_workers < 1:
            raise ConfigError("an offload pool needs at least one worker")
        self.max_workers = max_workers
        self._metrics = metrics
        self._remaining = remaining
        self._executor: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self.busy = 0
        self.abandoned = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Offloader]:
        """Own the threads for the block's duration; `offload()` on this loop uses them."""
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="hardened-offload")
        self._slots = asyncio.Semaphore(self.max_workers)
        _POOLS[id(loop)] = (loop, self)
        try:
            yield self
        finally:
            if _POOLS.get(id(loop), (None, None))[1] is self:
                del _POOLS[id(loop)]
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def budget(self, timeout: float | None) -> float | None:
        """The seconds a call may take: `timeout`, capped by the request deadline."""
        left = self._remaining()
        if timeout is None:
            return left
        return timeout if left is None else min(timeout, left)

    async def run(
        self,
        fn: Callable[[*Ts], T],
        /,
        *args: *Ts,
        timeout: float | None = None,  # noqa: ASYNC109 - it also bounds the wait for a thread
    ) -> T:
        """Run `fn(*args)` on a pool thread; DeadlineExceeded when the budget ends first."""
        executor, slots = self._executor, self._slots
        if executor is None or slots is None:
            raise RuntimeError("the offload pool is not running")
        name = getattr(fn, "__qualname__", repr(fn))
        budget = self.budget(timeout)
        if budget is not None and budget <= 0:
            raise DeadlineExceeded(f"no time left to run {name}")
        loop = asyncio.get_running_loop()
        submitted: Future[T] | None = None
        try:
            async with asyncio.timeout(budget):
                await slots.acquire()
                context = contextvars.copy_context()
                submitted = executor.submit(context.run, lambda: fn(*args))
                self._track(submitted, loop, slots)
                return await asyncio.wrap_future(submitted)
        except asyncio.CancelledError:  # the caller went away (a client disconnect)
            self._abandon(submitted)
            raise
        except TimeoutError:
            if submitted is None:
                raise DeadlineExceeded(f"no offload thread for {name} within {budget}s") from None
            self._abandon(submitted)
            raise DeadlineExceeded(f"{name} did not finish within {budget}s") from None

    def _abandon(self, work: Future[T] | None) -> None:
        """Count work that keeps running after its caller stopped waiting."""
        if work is not None and not work.done():
            self.abandoned += 1
            if self._metrics is not None:
                self._metrics.offload_abandoned.inc()

    def _track(
        self, work: Future[T], loop: asyncio.AbstractEventLoop, slots: asyncio.Semaphore
    ) -> None:
        self.busy += 1
        if self._metrics is not None:
            self._metrics.offload_busy.inc()

        def finished(_: Future[T]) -> None:  # runs on the pool thread (or here, if cancelled)
            if self._metrics is not None:
                self._metrics.offload_busy.dec()
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for a slot
                loop.call_soon_threadsafe(self._release, slots)

        work.add_done_callback(finished)

    def _release(self, slots: asyncio.Semaphore) -> None:
        self.busy -= 1
        slots.release()


async def offload(
    fn: Callable[[*Ts], T],
    /,
    *args: *Ts,
    timeout: float | None = None,  # noqa: ASYNC109 - it also bounds the wait for a thread
) -> T:
    """Run sync `fn(*args)` on the service's offload pool, within the request deadline.

    `timeout` (seconds) caps it further; pass keyword arguments with `functools.partial`.
    Raises `DeadlineExceeded` when the budget ends first, `LookupError` when no offload pool
    runs on this loop (no `Service` serves from it).
    """
    loop = asyncio.get_running_loop()
    entry = _POOLS.get(id(loop))
    if entry is None or entry[0] is not loop:
        raise LookupError(
            "no offload pool runs on this event loop: serve through a hardened Service "
            "(LoopConfig) or run one with `async with Offloader().running()`"
        )
    return await entry[1].run(fn, *args, timeout=timeout)
