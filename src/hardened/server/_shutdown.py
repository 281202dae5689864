"""The shutdown sequence on a uvicorn server: the phases of the shutdown policy, each bounded
and logged.

`HardenedServer` calls in at four points: `on_signal` (from `handle_exit`), `due` and
`refresh` (from `on_tick`), and `run` (as its `shutdown`). Stock uvicorn closes the listener
at once, sends no `Connection: close` on in-flight h11 responses, drains forever by default
and runs the lifespan teardown without a timeout; this sequence does none of that.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from typing import TYPE_CHECKING, Any

from hardened.errors import ConfigError
from hardened.shutdown import DRAIN_TIMEOUT, SECOND_SIGNAL, ShutdownManager
from hardened.shutdown._budget import ShutdownBudget, settings_budget
from hardened.shutdown._report import (
    ShutdownReport,
    ensure_log_handler,
    flush_logs,
    report_path,
    teardown_steps,
    write_report,
)
from hardened.shutdown._watchdog import Watchdog

if TYPE_CHECKING:
    import uvicorn

    from hardened.gates import Installer

__all__ = ["ShutdownSequence"]

logger = logging.getLogger("hardened.shutdown")

CLOSE = (b"connection", b"close")
_POLL = 0.05
_CANCEL_GRACE = 0.5  # how long cancelled work gets to unwind before it counts as dropped


def _cycles(connection: Any) -> list[Any]:
    """The request cycles of one uvicorn HTTP connection (current and pipelined)."""
    cycles = [cycle for cycle, _ in getattr(connection, "pipeline", ())]
    current = getattr(connection, "cycle", None)
    return [current, *cycles] if current is not None else cycles


def _elapsed(since: float, now: float) -> float:
    return round(now - since, 4)


class ShutdownSequence:
    """Drives one server's shutdown for its service's `ShutdownManager`."""

    def __init__(self, server: uvicorn.Server, manager: ShutdownManager) -> None:
        self.server = server
        self.manager = manager
        self.began_at: float | None = None
        self.forced = False
        self.stubborn = 0
        self._budget: ShutdownBudget | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._requests_at_signal = 0
        self._background_at_signal = 0

    @classmethod
    def for_service(cls, server: uvicorn.Server, service: Installer) -> ShutdownSequence | None:
        """The sequence for `service`, or None when its shutdown mechanism is off."""
        if ShutdownManager not in service.components:
            return None
        return cls(server, service.components.get(ShutdownManager))

    @property
    def budget(self) -> ShutdownBudget:
        """The manager's budget; a broken manifest falls back to the settings (and is logged)."""
        if self._budget is None:
            try:
                self._budget = self.manager.budget()
            except ConfigError as exc:
                logger.error("%s; shutting down with the settings instead", exc)  # noqa: TRY400
                self._budget = settings_budget(self.manager.config)
        return self._budget

    def attach(self) -> None:
        """Called on the loop when serving starts: note the loop, make our logs visible."""
        self._loop = asyncio.get_running_loop()
        self.manager.attached = True
        ensure_log_handler()
        _ = self.budget

    # -- t = 0 ------------------------------------------------------------------------------

    def on_signal(self, sig: int) -> None:
        """First signal: 503 readiness, `Connection: close`, watchdog armed. Second: force."""
        if self.began_at is not None:
            self.forced = True
            if self.manager.report is not None:
                self.manager.report.forced = True
            self._later(logger.warning, "second signal: skipping to the forced shutdown")
            return
        clock = self.manager.clock
        self.began_at = clock.monotonic()
        budget = self.budget
        state = self.server.server_state
        report = ShutdownReport(
            signal=signal.Signals(sig).name,
            started_wall=round(clock.wall(), 3),
            deregistration_delay_s=budget.deregistration_delay,
            drain_timeout_s=budget.drain,
        )
        report.in_flight_at_signal = len(state.tasks)
        self._requests_at_signal = state.total_requests
        self._background_at_signal = self.manager.background_tasks.pending
        self.manager.begin(report)
        self.mark_close()
        if self.manager.config.watchdog:
            Watchdog(budget.watchdog_after, self._last_words).arm()
        self._later(self.manager.announce_stopping)
        self._later(
            logger.info,
            "%s: readiness is 503; serving %.1fs more, then draining up to %.1fs "
            "(watchdog at %.1fs)",
            report.signal,
            budget.deregistration_delay,
            budget.drain,
            budget.watchdog_after,
        )

    def _later(self, callback: Any, *args: Any) -> None:
        """Run `callback` on the loop, not inside the signal handler."""
        loop = self._loop
        if loop is None or loop.is_closed():
            callback(*args)
        else:
            loop.call_soon_threadsafe(callback, *args)

    def mark_close(self) -> None:
        """Every response not yet started carries `Connection: close`, on h11 and httptools."""
        state = self.server.server_state
        if CLOSE not in state.default_headers:
            state.default_headers = [*state.default_headers, CLOSE]
        for connection in list(state.connections):
            for cycle in _cycles(connection):
                if getattr(cycle, "response_started", True):
                    continue
                cycle.keep_alive = False
                if CLOSE not in cycle.default_headers:
                    cycle.default_headers = [*cycle.default_headers, CLOSE]

    # -- during the delay --------------------------------------------------------------------

    def due(self) -> bool:
        """True once the deregistration delay has passed (or a second signal forced it)."""
        if self.began_at is None:
            return False
        waited = self.manager.clock.monotonic() - self.began_at
        return self.forced or waited >= self.budget.deregistration_delay

    def refresh(self) -> None:
        """After uvicorn rebuilds its default headers (each second), put ours back."""
        if self.began_at is not None:
            state = self.server.server_state
            if CLOSE not in state.default_headers:
                state.default_headers = [*state.default_headers, CLOSE]

    # -- after the delay ---------------------------------------------------------------------

    async def run(self, sockets: list[socket.socket] | None = None) -> None:
        """Close listeners, drain, cancel, tear down, report; every phase bounded."""
        if self.began_at is None:  # exit without a signal (e.g. uvicorn's request limit)
            self.on_signal(signal.SIGTERM)
        assert self.began_at is not None
        report = self.manager.report
        assert report is not None
        clock, began, state = self.manager.clock, self.began_at, self.server.server_state
        report.phases["deregister"] = _elapsed(began, clock.monotonic())

        # One loop tick before closing lets the accept handler take what the kernel queued;
        # one after gives those sockets their protocol, so they are drained, not reset.
        start = clock.monotonic()
        report.phase_starts["close_listeners"] = _elapsed(began, start)
        await asyncio.sleep(0)
        for server in getattr(self.server, "servers", []):
            server.close()
        for sock in sockets or []:
            sock.close()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.mark_close()
        report.in_flight_at_drain = len(state.tasks)
        report.streams_at_drain = self._open_responses()
        # Idle keep-alive connections close now; in-flight ones after their response;
        # WebSockets get close code 1012.
        for connection in list(state.connections):
            connection.shutdown()
        self.manager.announce_draining()
        report.phases["close_listeners"] = _elapsed(start, clock.monotonic())

        await self._drain(report)
        await self._teardown(report)

        report.phases["total"] = _elapsed(began, clock.monotonic())
        report.responses_completed = state.total_requests - self._requests_at_signal
        if report.forced:
            report.outcome = "forced"
        elif report.cancelled or report.dropped or report.teardown_abandoned:
            report.outcome = "cut"
        else:
            report.outcome = "clean"
        logger.info("%s", report.line())
        write_report(report, report_path(self.manager.config.report_path))
        if self.stubborn:
            logger.error(
                "%d task(s) ignored cancellation; the watchdog ends the process at %.1fs",
                self.stubborn,
                self.budget.watchdog_after,
            )
        flush_logs()

    def _open_responses(self) -> int:
        return sum(
            1
            for connection in list(self.server.server_state.connections)
            for cycle in _cycles(connection)
            if getattr(cycle, "response_started", False)
            and not getattr(cycle, "response_complete", True)
        )

    async def _drain(self, report: ShutdownReport) -> None:
        clock, state = self.manager.clock, self.server.server_state
        background = self.manager.background_tasks
        start = clock.monotonic()
        report.phase_starts["drain"] = _elapsed(self.began_at or start, start)
        deadline = start + self.budget.drain
        while (state.tasks or state.connections or background.pending) and not self.forced:
            if clock.monotonic() >= deadline:
                break
            await asyncio.sleep(_POLL)
        pending = [task for task in state.tasks if not task.done()]
        truncated = self._open_responses()
        reason = SECOND_SIGNAL if self.forced else DRAIN_TIMEOUT
        for task in pending:
            self.manager.cut(task, reason)
        if pending:
            logger.warning(
                "drain: cancelling %d request(s) after %.1fs%s",
                len(pending),
                clock.monotonic() - start,
                " (forced)" if self.forced else "",
            )
            _, stubborn = await asyncio.wait(pending, timeout=_CANCEL_GRACE)
            self.stubborn = len(stubborn)
        totals = await background.finish(0.0, cancel_grace=_CANCEL_GRACE)
        totals.finished = self._background_at_signal - totals.cancelled
        self.stubborn += totals.ignored_cancellation
        report.cancelled = len(pending)
        report.dropped = truncated + self.stubborn
        report.background = {
            "workers": len(background.names()),
            "finished": max(totals.finished, 0),
            "cancelled": totals.cancelled,
            "ignored_cancellation": totals.ignored_cancellation,
        }
        report.phases["drain"] = _elapsed(start, clock.monotonic())

    async def _teardown(self, report: ShutdownReport) -> None:
        clock = self.manager.clock
        start = clock.monotonic()
        report.phase_starts["teardown"] = _elapsed(self.began_at or start, start)
        try:
            async with asyncio.timeout(self.budget.teardown):
                await self.server.lifespan.shutdown()
        except TimeoutError:
            report.teardown_abandoned = True
            logger.error(  # noqa: TRY400 - a timeout, not a bug: no traceback
                "teardown: abandoned after %.1fs", self.budget.teardown
            )
        service = self.manager.service
        if service is not None:
            described = service.components.describe()
            report.teardown = teardown_steps(described, self.budget.teardown_step)
        report.phases["teardown"] = _elapsed(start, clock.monotonic())

    def _last_words(self) -> str:
        """For the watchdog: the report as it stands, marked, and kept."""
        report = self.manager.report
        if report is None:
            return "no report"
        report.watchdog_fired = True
        report.outcome = "watchdog"
        report.dropped = max(report.dropped, len(self.server.server_state.tasks))
        write_report(report, report_path(self.manager.config.report_path))
        return report.line()
