"""ShutdownManager: the service-side state of a graceful shutdown and its public API.

Handlers and workers fetch it by type (`component(request, ShutdownManager)`): `stopping`
turns true on SIGTERM (stop pulling new work), `draining` when the listeners close (finish
streams now); `background()` and `spawn()` register work the drain waits for; `stream()`
ends a streaming response cleanly once the drain begins. The runner drives the phases.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.shutdown._background import BackgroundTasks, Worker
from hardened.shutdown._budget import ShutdownBudget, resolve_budget
from hardened.shutdown._config import ShutdownConfig
from hardened.shutdown._report import ShutdownReport, read_report, report_path

if TYPE_CHECKING:
    from hardened.gates import Installer

__all__ = ["DRAIN_TIMEOUT", "SECOND_SIGNAL", "ShutdownManager"]

# Why the sequence cut a request (`ShutdownManager.cut`); the drain stage answers each apart.
DRAIN_TIMEOUT = "drain timeout"
SECOND_SIGNAL = "second signal"

T = TypeVar("T")


class ShutdownManager:
    """One service's shutdown: its budget, its signals to handlers, its report."""

    outbound = False  # process-wide: no per-request calls, so no request budget to read

    def __init__(self, config: ShutdownConfig | None = None) -> None:
        self.config = config or ShutdownConfig()
        self.clock: Clock = SYSTEM_CLOCK
        self.service: Installer | None = None
        # Requests the sequence cut (cancelled), with why: the shutdown stage answers them 503.
        self.cut_requests: weakref.WeakKeyDictionary[asyncio.Task[Any], str]
        self.cut_requests = weakref.WeakKeyDictionary()
        self.background_tasks = BackgroundTasks()
        self._draining = asyncio.Event()
        self._budget: ShutdownBudget | None = None
        self.report: ShutdownReport | None = None
        self._previous: dict[str, Any] | None = None
        self._previous_read = False
        self.attached = False  # True once `hardened run` drives this manager's sequence

    # -- the budget --------------------------------------------------------------------------

    def budget(self) -> ShutdownBudget:
        """The budget in force (read once; raises ConfigError when the manifest is unusable)."""
        if self._budget is None:
            self._budget = resolve_budget(self.config)
        return self._budget

    # -- what handlers and workers see -------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """True from the first signal on: take no new background work."""
        return self.background_tasks.stopping.is_set()

    @property
    def draining(self) -> bool:
        """True once the listeners are closed: streams should finish now."""
        return self._draining.is_set()

    async def wait_stopping(self) -> None:
        """Return once the shutdown has begun."""
        await self.background_tasks.stopping.wait()

    async def wait_draining(self) -> None:
        """Return once the drain has begun."""
        await self._draining.wait()

    def background(self, worker: Worker, *, name: str) -> None:
        """Register a long-running worker: `worker(stopping)` starts with the service.

        It should stop taking jobs once `stopping` is set; if it is still running at the end
        of the drain it is cancelled and must requeue its job in `except CancelledError`.
        """
        tasks = self.background_tasks
        if not tasks.names() and self.service is not None:
            # Registered as a component at the first worker, so it starts after (and stops
            # before) the components registered earlier, such as the pools it uses.
            self.service.components.register(BackgroundTasks, self._run_background)
        tasks.add(worker, name=name)

    @contextlib.asynccontextmanager
    async def _run_background(self) -> AsyncIterator[BackgroundTasks]:
        await self.background_tasks.start()
        try:
            yield self.background_tasks
        finally:
            # Under the hardened runner the drain has finished them already; elsewhere (a test
            # client, another server) this is their only stop.
            await self.background_tasks.finish(self.config.teardown_step_timeout / 2)

    def spawn(self, coroutine: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        """Run one-off work the drain waits for (instead of a bare `asyncio.create_task`)."""
        return self.background_tasks.spawn(coroutine, name=name)

    async def stream(self, source: AsyncIterator[T], *, final: T | None = None) -> AsyncIterator[T]:
        """Relay `source` until the drain begins, then send `final` (if any) and end cleanly.

        For SSE, `final` can carry a `retry:` hint so clients reconnect elsewhere.
        """
        drain = asyncio.ensure_future(self._draining.wait())
        item: asyncio.Future[T] | None = None
        try:
            while True:
                item = asyncio.ensure_future(anext(source))
                await asyncio.wait({item, drain}, return_when=asyncio.FIRST_COMPLETED)
                if not item.done():
                    break
                try:
                    value = item.result()
                except StopAsyncIteration:
                    return
                yield value
            item.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await item
            if final is not None:
                yield final
        finally:
            # Also when the client goes away mid-stream: leave no task reading `source`.
            drain.cancel()
            if item is not None and not item.done():
                item.cancel()

    # -- driven by the runner ----------------------------------------------------------------

    def begin(self, report: ShutdownReport) -> None:
        """The first signal: readiness turns 503 now (safe to call from a signal handler)."""
        self.report = report
        if self.service is not None:
            self.service.begin_shutdown()

    def cut(self, task: asyncio.Task[Any], reason: str) -> None:
        """Cancel an unfinished request's task, marked so its answer says why (503)."""
        self.cut_requests[task] = reason
        task.cancel()

    def announce_stopping(self) -> None:
        """Tell workers to stop pulling (runs on the loop)."""
        self.background_tasks.stopping.set()

    def announce_draining(self) -> None:
        """Tell streams to finish (runs on the loop)."""
        self._draining.set()

    def last_report(self) -> dict[str, Any] | None:
        """This process's shutdown report while it runs, else the previous process's."""
        if self.report is not None:
            return self.report.to_json()
        if not self._previous_read:
            self._previous = read_report(report_path(self.config.report_path))
            self._previous_read = True
        return self._previous
