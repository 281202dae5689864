"""The watchdog: a thread that exits the process hard just before the grace period ends.

A thread, not a task, so that it fires even when the event loop is blocked or stuck on work
that ignores cancellation. It logs why, flushes, and `os._exit(1)`s: losing the last second
is better than a SIGKILL that loses the log line saying what was cut.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from hardened.shutdown._report import flush_logs

__all__ = ["WATCHDOG_EXIT_CODE", "Watchdog"]

logger = logging.getLogger("hardened.shutdown")

WATCHDOG_EXIT_CODE = 1


class Watchdog:
    """Calls `last_words()` then exits the process `after` seconds from `arm()`."""

    def __init__(self, after: float, last_words: Callable[[], str]) -> None:
        self.after = after
        self._last_words = last_words
        self._disarmed = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self) -> None:
        """Start counting (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="hardened-shutdown-watchdog", daemon=True
            )
            self._thread.start()

    def disarm(self) -> None:
        """Stop counting (tests, embedding)."""
        self._disarmed.set()

    def _run(self) -> None:
        if self._disarmed.wait(self.after):
            return
        try:
            words = self._last_words()
            logger.critical(
                "shutdown watchdog: %.1fs after the signal the grace period is about to end; "
                "exiting hard (exit %d). %s",
                self.after,
                WATCHDOG_EXIT_CODE,
                words,
            )
        finally:
            flush_logs()
            os._exit(WATCHDOG_EXIT_CODE)
