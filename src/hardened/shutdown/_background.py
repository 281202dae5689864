"""Registered background work: told to stop pulling on SIGTERM, finished or cancelled in the drain.

A bare `asyncio.create_task` is invisible to the shutdown: `asyncio.run` cancels it at loop
close, mid-job, with nobody counting. Work registered here is waited for within the drain
timeout, then cancelled; a worker requeues (nacks) its current job in `except CancelledError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from hardened.errors import ConfigError

__all__ = ["BackgroundTasks", "BackgroundTotals", "Worker"]

logger = logging.getLogger("hardened.shutdown")

# A long-running worker gets the `stopping` event: once set, it takes no new job.
Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class BackgroundTotals:
    """What became of the background work at shutdown."""

    finished: int = 0
    cancelled: int = 0
    ignored_cancellation: int = 0


class BackgroundTasks:
    """Workers started with the service, and one-off tasks spawned while serving."""

    def __init__(self) -> None:
        self._workers: list[tuple[str, Worker]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stopping = asyncio.Event()
        self.started = False

    def add(self, worker: Worker, *, name: str) -> None:
        """Register a worker; it starts with the service (after the components before it)."""
        if self.started:
            raise ConfigError("background workers must be registered before the service starts")
        if any(existing == name for existing, _ in self._workers):
            raise ConfigError(f"a background worker named {name!r} is already registered")
        self._workers.append((name, worker))

    def names(self) -> list[str]:
        """The registered workers' names."""
        return [name for name, _ in self._workers]

    def spawn(self, coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run one-off work that the shutdown waits for (instead of a bare `create_task`)."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._track(task)
        return task

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def pending(self) -> int:
        """Tasks still running."""
        return len(self._tasks)

    async def start(self) -> None:
        """Start every registered worker."""
        self.started = True
        for name, worker in self._workers:
            self._track(asyncio.get_running_loop().create_task(worker(self.stopping), name=name))

    async def finish(self, within: float, *, cancel_grace: float = 0.5) -> BackgroundTotals:
        """Stop pulling, wait up to `within` seconds for the work, then cancel what is left."""
        self.stopping.set()
        totals = BackgroundTotals()
        tasks = set(self._tasks)
        if not tasks:
            return totals
        done, pending = await asyncio.wait(tasks, timeout=within)
        totals.finished = len(done)
        for task in pending:
            task.cancel()
        totals.cancelled = len(pending)
        if pending:
            _, stubborn = await asyncio.wait(pending, timeout=cancel_grace)
            totals.ignored_cancellation = len(stubborn)
        return totals
