"""The `shed` slot: the outermost cheap rejection, before the body is read.

Per request (a few µs): exempt paths pass; a
request whose caller budget (`X-Request-Timeout`, or gRPC's format) is already spent by the
queue delay is dropped with 504; otherwise its priority meets the two signals. Queue delay,
adaptive CoDel: a burst may queue up to the interval (100 ms) until the delay has stayed above
the target (20 ms) for an interval; then anything queued past the target is refused, sheddable
past `overloaded_queue_delay` (5 ms: it only fills a drained queue). Critical requests are
refused only past `critical_queue_delay`. In-flight (Gradient2): sheddable at half the limit,
standard at the limit, critical at twice it. A rejection is 503 problem+json with a jittered
Retry-After, rendered once and cached; `Connection: close` is rate-limited (see ShedConfig).
The heartbeat pauses while the service is idle (`heartbeat_idle_pause`).
"""

from __future__ import annotations

import asyncio
import math
import random
import time

from prometheus_client import Counter
from starlette.types import Scope

from hardened.deadline._headers import CALLER_BUDGET_HEADERS, caller_budget
from hardened.errors import DeadlineExceeded, HardenedError, LoadShed
from hardened.faults import ClientFault, note_fault
from hardened.problems import problem_response
from hardened.shed._config import Priority, ShedConfig
from hardened.shed._signals import CoDel, Gradient2, QueueDelayMonitor
from hardened.stages import Exchange, Refused, Stage

__all__ = ["Shedder"]

_PRIORITIES = {p.value: p for p in Priority}


class Shedder(Stage):
    """The shedder's state (signals, in-flight, counters) and its edge stage."""

    slot = "shed"

    def __init__(self, config: ShedConfig, rejected: Counter) -> None:
        self.config = config
        wanted = [config.priority_header.encode()] if config.priority_header else []
        self.headers = (*wanted, *(CALLER_BUDGET_HEADERS if config.drop_late else ()))
        self._priority_header = wanted[0] if wanted else None
        self._exempt = config.exempt_paths
        self.codel = CoDel(config.queue_delay_target, config.queue_delay_interval)
        self.monitor = QueueDelayMonitor(
            config.heartbeat,
            self.codel,
            activity=self._activity,
            idle_after=config.heartbeat_idle_pause,
        )
        self.limit = Gradient2(
            initial=config.initial_limit,
            min_limit=config.min_limit,
            max_limit=config.max_limit,
            smoothing=config.smoothing,
            tolerance=config.rtt_tolerance,
            warmup=config.warmup_samples,
        )
        self.inflight = 0
        self.rejected_total = 0
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
        """(requests finished or refused so far, requests in flight), for the heartbeat."""
        return self.limit.samples + self.rejected_total, self.inflight

    def state(self) -> dict[str, float | int | bool | str]:
        """The mechanism-state fields published for the observe gate and /metrics."""
        long_rtt, short_rtt = self.limit.rtts
        return {
            "signal": "queue_delay+gradient2",
            "limit": round(self.limit.limit, 2),
            "limit_learned": self.limit.learned,
            "inflight": self.inflight,
            "queue_delay_seconds": round(self.monitor.last, 6),
            "queue_delay_max_seconds": round(self.monitor.recent_max(), 6),
            "queue_delay_target_seconds": self.config.queue_delay_target,
            "overloaded": self.codel.overloaded,
            "rtt_long_seconds": round(long_rtt, 6),
            "rtt_short_seconds": round(short_rtt, 6),
            "overload_episodes_total": self.codel.episodes,
            "heartbeat_running": self.monitor.loop is not None,
            "heartbeat_pauses_total": self.monitor.pauses,
            "rejected_total": self.rejected_total,
            "connections_closed_total": self.closed_total,
        }

    def decide(self, priority: Priority, now: float) -> str | None:
        """The reason to reject a request of `priority` now, or None to admit it."""
        config = self.config
        delay = self.monitor.current(now)
        overloaded = self.codel.update(now, delay)
        # Before the limit has learned a latency, no in-flight bound applies (inf).
        gradient = self.limit
        limit = gradient.limit if gradient.samples >= gradient.warmup else math.inf
        inflight = self.inflight
        if priority is Priority.CRITICAL:
            if delay >= config.critical_queue_delay:
                return "queue_delay"
            return "limit" if inflight >= 2 * limit else None
        # Adaptive CoDel (Facebook, "Fail at Scale"): a burst may queue up to the interval;
        # once the delay has stayed high, anything queued past the target is refused.
        target = config.queue_delay_target
        if priority is Priority.SHEDDABLE:  # goes first; in an episode only into a drained queue
            if delay > (config.overloaded_queue_delay if overloaded else target):
                return "queue_delay"
            return "limit" if inflight >= limit / 2 else None
        if delay > (target if overloaded else config.queue_delay_interval):
            return "queue_delay"
        return "limit" if inflight >= limit else None

    def priority_of(self, path: str, header: bytes | None) -> Priority:
        """A request's priority: its route prefix's, unless its priority header names one."""
        config = self.config
        priority = config.priority_for(path) if config.route_priorities else None
        priority = priority or config.default_priority
        if header is not None:
            priority = _PRIORITIES.get(header.decode("latin-1").strip().lower(), priority)
        return priority

    def _calm(self, now: float) -> bool:
        """True when `decide` would admit every priority now, read without updating anything:
        no overload episode and none starting, the queue delay measured by the last heartbeat
        (the next one is not late yet) at most the target, in-flight under the sheddable bound.
        The common case of a healthy service, decided in a few attribute reads."""
        codel, monitor, gradient = self.codel, self.monitor, self.limit
        return (
            not codel.overloaded
            and codel.above_since is None
            and now - monitor.due <= monitor.last <= self.config.queue_delay_target
            and (self.inflight < gradient.limit / 2 or gradient.samples < gradient.warmup)
        )

    def check(
        self,
        loop: asyncio.AbstractEventLoop,
        path: str,
        priority_header: bytes | None,
        caller_budget: float | None,
    ) -> tuple[str, Priority, float] | None:
        """None to admit the request; else (reason, priority, loop time) to `refuse` it.

        `loop` is the running loop; `caller_budget` is the caller's remaining budget in seconds
        (the nearest of its timeout headers), None when it sent none.
        """
        monitor = self.monitor
        if monitor.loop is not loop:
            monitor.ensure_running(loop)
        now = loop.time()
        if caller_budget is None and self._calm(now):
            return None
        priority = self.priority_of(path, priority_header)
        if (
            caller_budget is not None
            and self.config.drop_late
            and caller_budget <= monitor.current(now)
        ):
            return "deadline", priority, now
        reason = self.decide(priority, now)
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

    # -- the edge stage ----------------------------------------------------------------------

    def enter(self, exchange: Exchange) -> float | None:
        """Refuse now (before the body is read) or admit; the state is the admission time."""
        scope = exchange.scope
        if self._exempt and scope["path"].startswith(self._exempt):
            return None
        headers = exchange.headers
        priority: bytes | None = None
        caller: float | None = None
        if headers:
            if self._priority_header is not None:
                priority = headers.get(self._priority_header)
            if self.config.drop_late:
                caller = caller_budget(headers)[0]
        refusal = self.check(exchange.loop, scope["path"], priority, caller)
        if refusal is not None:
            raise Refused(self.refusal(scope, *refusal))
        self.inflight += 1
        return time.monotonic()

    def exit(self, exchange: Exchange, state: float | None) -> None:
        if state is not None:
            inflight = self.inflight
            self.inflight = inflight - 1
            self.limit.on_sample(time.monotonic() - state, inflight)
