"""The shutdown stage: a request the drain cut before its response started is answered 503.

The shutdown sequence cancels what is still running at the drain timeout (or at a second
signal) and marks each task with why (`ShutdownManager.cut`). Such a request may have done part
of its work, so the answer is `ShutdownInterrupted` (503 + Retry-After), not the server's 500.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hardened.errors import ShutdownInterrupted
from hardened.shutdown._manager import DRAIN_TIMEOUT, SECOND_SIGNAL, ShutdownManager
from hardened.stages import Exchange, Stage

__all__ = ["DrainStage"]

_DETAIL = {
    DRAIN_TIMEOUT: (
        "the service is shutting down and cut this request at its drain timeout; the work "
        "may be partly done"
    ),
    SECOND_SIGNAL: (
        "the service was told to stop at once (a second signal) and cut this request; the "
        "work may be partly done"
    ),
}


class DrainStage(Stage):
    """Fills the `shutdown` slot of the fixed order (no per-request work but on a fault)."""

    slot = "shutdown"

    def __init__(self, manager: ShutdownManager) -> None:
        self._cut = manager.cut_requests

    def fault(
        self, exchange: Exchange, state: Any, error: BaseException
    ) -> ShutdownInterrupted | None:
        if not isinstance(error, asyncio.CancelledError) or exchange.status:
            return None
        task = asyncio.current_task()
        reason = self._cut.get(task) if task is not None else None
        if reason is None or task is None:
            return None
        task.uncancel()
        # No `Connection: close` here: the server adds it to every response once shutdown began.
        return ShutdownInterrupted(_DETAIL.get(reason, _DETAIL[DRAIN_TIMEOUT]), retry_after=1)
