"""The `shed` slot: the outermost cheap rejection, before the body is read.

Per request (a few µs): exempt paths pass; a request whose caller budget (`X-Request-Timeout`,
or gRPC's format) is already spent by the queue delay is dropped with 504; otherwise its
priority (by route; a header only from a trusted caller) meets the queue delay, adaptive CoDel:
a burst may queue up to the interval (100 ms) until the delay has stayed above the target
(20 ms) for an interval; then anything queued past the target is refused, sheddable past
`overloaded_queue_delay` (5 ms: it only fills a drained queue). Critical requests are refused
only past `critical_queue_delay`. A rejection is 503 problem+json with a jittered Retry-After,
rendered once and cached; `Connection: close` is rate-limited (see ShedConfig). The heartbeat
pauses while the service is idle (`heartbeat_idle_pause`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping

from prometheus_client import Counter
from starlette.types import Scope

from hardened.deadline._headers import CALLER_BUDGET_HEADERS, caller_budget
from hardened.errors import DeadlineExceeded, HardenedError, LoadShed
from hardened.faults import ClientFault, note_fault
from hardened.heartbeat import Heartbeat
from hardened.problems import problem_response
from hardened.shed._config import Priority, ShedConfig
from hardened.shed._signals import CoDel, QueueDelayMonitor
from hardened.shed._trust import PriorityTrust
from hardened.stages import Exchange, Refused, Stage

__all__ = ["EARLY_CLAIMS", "Shedder"]

# In a scope: the claims (priority, caller budget) read when the server admitted the request
# at its headers-complete; the stage decides it again with them, without reading them twice.
EARLY_CLAIMS = "hardened.shed.claims"
# In a scope: the loop time a new connection's first request arrived at (set by the server).
ARRIVED = "hardened.arrived"

_PRIORITIES = {p.value: p for p in Priority}
_UNTRUSTED = Priority.SHEDDABLE.value.encode()  # the priority of an untrusted claim


class Shedder(Stage):
    """The shedder's state (queue-delay signal, counters, trust) and its edge stage.

    The default stage has no `exit`: its decision needs nothing measured after the answer, so
    the edge driver writes no exit line for it. `LimitedShedder` adds the in-flight limit.
    """

    slot = "shed"
    signal = "queue_delay"

    def __init__(
        self, config: ShedConfig, rejected: Counter, heartbeat: Heartbeat | None = None
    ) -> None:
        self.config = config
        self.trust = PriorityTrust(config)
        wanted = [config.priority_header.encode()] if config.priority_header else []
        secret = self.trust.secret_header
        self.headers = (
            *wanted,
            *([secret] if secret is not None and wanted else []),
            *(CALLER_BUDGET_HEADERS if config.drop_late else ()),
        )
        self._priority_header = wanted[0] if wanted else None
        self._target = config.queue_delay_target
        self._exempt = config.exempt_paths
        self.codel = CoDel(config.queue_delay_target, config.queue_delay_interval)
        self.monitor = QueueDelayMonitor(
            config.heartbeat,
            self.codel,
            activity=self._activity,
            idle_after=config.heartbeat_idle_pause,
            heartbeat=heartbeat,
        )
        self._heartbeat = self.monitor.heartbeat
        self.inflight = 0  # counted only by a stage with an exit (LimitedShedder)
        self.admitted = 0
        self.rejected_total = 0
        self.rejected_early_total = 0  # of which the server refused at headers-complete
        self._rejected = {
            (reason, p): rejected.labels(reason, p.value)
            for reason in ("queue_delay", "limit", "deadline")
            for p in Priority
        }
        self._random = random.Random()  # noqa: S311 - jitter, not security
        self._close_tokens = config.close_per_second
        self._close_refilled = 0.0
        self.closed_total = 0
        self._answers: dict[tuple[str, int, bool], tuple[int, list[tuple[bytes, bytes]], bytes]]
        self._answers = {}

    def _activity(self) -> tuple[int, int]:
        """(requests admitted or refused so far, requests in flight), for the heartbeat."""
        return self.admitted + self.rejected_total, self.inflight

    def state(self) -> dict[str, float | int | bool | str]:
        """The mechanism-state fields published for the observe gate and /metrics."""
        return {
            "signal": self.signal,
            "queue_delay_seconds": round(self.monitor.last, 6),
            "queue_delay_max_seconds": round(self.monitor.recent_max(), 6),
            "queue_delay_target_seconds": self.config.queue_delay_target,
            "overloaded": self.codel.overloaded,
            "overload_episodes_total": self.codel.episodes,
            "heartbeat_running": self.monitor.loop is not None,
            "heartbeat_pauses_total": self.monitor.pauses,
            "priority_header_trusted_from": self.trust.source,
            "priority_claims_honoured_total": self.trust.honoured,
            "priority_claims_ignored_total": self.trust.ignored,
            "rejected_total": self.rejected_total,
            "rejected_early_total": self.rejected_early_total,
            "connections_closed_total": self.closed_total,
        }

    def decide(self, priority: Priority, now: float, waited: float = 0.0) -> str | None:
        """The reason to reject a request of `priority` now, or None to admit it.

        `waited` is how long this request waited before the application saw it, when the
        server measured it (a new connection's accept queue): the queue delay is the larger,
        except for critical requests, judged on the loop's own queue delay alone.
        """
        config = self.config
        loop_delay = self.monitor.current(now)
        delay = max(loop_delay, waited)
        overloaded = self.codel.update(now, delay)
        if priority is Priority.CRITICAL:  # on the loop's own queue: served while it can take it
            return "queue_delay" if loop_delay >= config.critical_queue_delay else None
        # Adaptive CoDel (Facebook, "Fail at Scale"): a burst may queue up to the interval;
        # once the delay has stayed high, anything queued past the target is refused.
        target = config.queue_delay_target
        if priority is Priority.SHEDDABLE:  # goes first; in an episode only into a drained queue
            if delay > (config.overloaded_queue_delay if overloaded else target):
                return "queue_delay"
            return None
        return (
            "queue_delay"
            if delay > (target if overloaded else config.queue_delay_interval)
            else None
        )

    def priority_of(self, path: str, header: bytes | None) -> Priority:
        """A request's priority: its route prefix's, unless a trusted priority header names one."""
        config = self.config
        priority = config.priority_for(path) if config.route_priorities else None
        priority = priority or config.default_priority
        if header is not None:
            priority = _PRIORITIES.get(header.decode("latin-1").strip().lower(), priority)
        return priority

    def calm(self, now: float) -> bool:
        """True when `decide` would admit every priority now, read without updating anything:
        no overload episode and none starting, the queue delay measured by the last heartbeat
        (the next one is not late yet) at most the target. The common case of a healthy
        service, decided in a few attribute reads; `check` and `enter` write it out in their
        own frames (no call per request), and the tests hold both to this one."""
        codel, monitor = self.codel, self.monitor
        return (
            not codel.overloaded
            and codel.above_since is None
            and now - monitor.due <= monitor.last <= self.config.queue_delay_target
        )

    def check(
        self,
        loop: asyncio.AbstractEventLoop,
        path: str,
        priority_header: bytes | None,
        caller_budget: float | None,
        arrived: float | None = None,
    ) -> tuple[str, Priority, float] | None:
        """None to admit the request; else (reason, priority, loop time) to `refuse` it.

        `loop` is the running loop; `priority_header` a trusted caller's claim (None when there
        is none or it was not trusted); `caller_budget` is the caller's remaining budget in
        seconds (the nearest of its timeout headers), None when it sent none; `arrived` the
        loop time the request arrived at, when the server stamped it.
        """
        monitor = self.monitor
        heartbeat = self._heartbeat  # read directly: the monitor's properties cost a call each
        if heartbeat.loop is not loop:
            monitor.ensure_running(loop)
        now = loop.time()
        waited = 0.0 if arrived is None else now - arrived
        if caller_budget is None:  # `calm`, written out: the common case in a few reads
            target = self._target
            codel = self.codel
            if (
                waited <= target
                and not codel.overloaded
                and codel.above_since is None
                and now - heartbeat.due <= monitor.last <= target
            ):
                return None
        priority = self.priority_of(path, priority_header)
        if (
            caller_budget is not None
            and self.config.drop_late
            and caller_budget <= max(monitor.current(now), waited)
        ):
            return "deadline", priority, now
        reason = self.decide(priority, now, waited)
        return None if reason is None else (reason, priority, now)

    def _should_close(self, scope: Scope, now: float) -> bool:
        for name, value in scope["headers"]:
            if (name == b"content-length" and value != b"0") or name == b"transfer-encoding":
                return True  # the body was never read: the connection cannot be reused
        rate = self.config.close_per_second
        self._close_tokens = min(rate, self._close_tokens + (now - self._close_refilled) * rate)
        self._close_refilled = now
        if self._close_tokens >= 1:
            self._close_tokens -= 1
            return True
        return False

    def _answer(self, reason: str, close: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        low, high = self.config.retry_after
        retry_after = self._random.randint(low, high) if reason != "deadline" else 0
        key = (reason, retry_after, close)
        answer = self._answers.get(key)
        if answer is None:  # at most reasons x retry-after values x 2: rendered once each
            error: HardenedError
            if reason == "deadline":
                error = DeadlineExceeded("the caller's deadline passed before the work began")
            else:
                detail = f"overloaded ({reason.replace('_', ' ')})"
                error = LoadShed(detail, retry_after=retry_after)
            answer = self._answers[key] = problem_response(error, close=close)
        return answer

    def refusal(
        self, scope: Scope, reason: str, priority: Priority, now: float
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Count a refusal and render its answer: 503 (or 504 for a spent caller budget)."""
        self.rejected_total += 1
        self._rejected[(reason, priority)].inc()
        scope["hardened.shed"] = reason
        if reason == "deadline":
            note_fault(scope, ClientFault.BUDGET)  # the caller's budget, not our overload
        close = self._should_close(scope, now)
        self.closed_total += close
        status, headers, body = self._answer(reason, close)
        return status, list(headers), body

    def claims(
        self, scope: Scope, headers: Mapping[bytes, bytes]
    ) -> tuple[bytes | None, float | None]:
        """(the priority claim as it counts, the caller's budget) from the headers the stage
        asked for: an untrusted claim counts as sheddable; no header, None."""
        priority: bytes | None = None
        caller: float | None = None
        if self._priority_header is not None:
            priority = headers.get(self._priority_header)
            if priority is not None and not self.trust.trusted(
                scope.get("client"), headers.get(self.trust.secret_header or b"")
            ):
                priority = _UNTRUSTED  # claiming is what escapes shedding: shed it first
        if self.config.drop_late:
            caller = caller_budget(headers)[0]
        return priority, caller

    # -- the edge stage ----------------------------------------------------------------------

    def enter(self, exchange: Exchange) -> bool:
        """Refuse now (before the body is read) or admit; the state says it was admitted.

        A request the server admitted at its headers-complete (`EarlyRefusal`) is decided
        again here, with the claims read then (`EARLY_CLAIMS`)."""
        scope = exchange.scope
        if self._exempt and scope["path"].startswith(self._exempt):
            return False
        headers = exchange.headers
        priority: bytes | None = None
        caller: float | None = None
        if headers:
            claimed = scope.get(EARLY_CLAIMS)
            priority, caller = claimed if claimed is not None else self.claims(scope, headers)
        loop = exchange.loop
        arrived = scope.get(ARRIVED)
        heartbeat = self._heartbeat
        if caller is None and heartbeat.loop is loop:  # `check`'s calm case, without its call
            now = loop.time()
            target = self._target
            codel = self.codel
            if (
                (arrived is None or now - arrived <= target)
                and not codel.overloaded
                and codel.above_since is None
                and now - heartbeat.due <= self.monitor.last <= target
            ):
                self.admitted += 1
                return True
        refusal = self.check(loop, scope["path"], priority, caller, arrived)
        if refusal is not None:
            raise Refused(self.refusal(scope, *refusal))
        self.admitted += 1
        return True
