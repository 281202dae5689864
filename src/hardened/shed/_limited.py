"""The shedder with the opt-in adaptive in-flight limit (Gradient2), applied only when saturated.

The limit refines the queue-delay signal; it never refuses on its own: it applies only while
the queue delay is over its target (or an overload episode is on). Latency that grows because
requests await a slow dependency is the bulkhead's business, per dependency.
"""

from __future__ import annotations

import math
import time

from prometheus_client import Counter

from hardened.heartbeat import Heartbeat
from hardened.shed._config import Priority, ShedConfig
from hardened.shed._signals import Gradient2
from hardened.shed._stage import Shedder
from hardened.stages import Exchange

__all__ = ["LimitedShedder"]


class LimitedShedder(Shedder):
    """`Shedder` plus Gradient2: sheddable at half the limit, standard at it, critical at 2x."""

    signal = "queue_delay+gradient2"

    def __init__(
        self, config: ShedConfig, rejected: Counter, heartbeat: Heartbeat | None = None
    ) -> None:
        super().__init__(config, rejected, heartbeat)
        self.limit = Gradient2(
            initial=config.initial_limit,
            min_limit=config.min_limit,
            max_limit=config.max_limit,
            smoothing=config.smoothing,
            tolerance=config.rtt_tolerance,
            warmup=config.warmup_samples,
        )

    def state(self) -> dict[str, float | int | bool | str]:
        """The shedder's fields plus the limit's."""
        long_rtt, short_rtt = self.limit.rtts
        return {
            **super().state(),
            "limit": round(self.limit.limit, 2),
            "limit_learned": self.limit.learned,
            "inflight": self.inflight,
            "rtt_long_seconds": round(long_rtt, 6),
            "rtt_short_seconds": round(short_rtt, 6),
        }

    def decide(self, priority: Priority, now: float, waited: float = 0.0) -> str | None:
        """The queue-delay verdict; then, only while saturated, the in-flight limit."""
        reason = super().decide(priority, now, waited)
        if reason is not None:
            return reason
        if (
            not self.codel.overloaded
            and self.monitor.current(now) <= self.config.queue_delay_target
        ):
            return None  # not saturated: no in-flight bound refuses
        gradient = self.limit
        limit = gradient.limit if gradient.samples >= gradient.warmup else math.inf
        bound = {Priority.CRITICAL: 2 * limit, Priority.STANDARD: limit}.get(priority, limit / 2)
        return "limit" if self.inflight >= bound else None

    def enter(self, exchange: Exchange) -> float | None:  # type: ignore[override]
        """Admit or refuse as the shedder does; the state is the admission time."""
        if not super().enter(exchange):
            return None
        self.inflight += 1
        return time.monotonic()

    def exit(self, exchange: Exchange, state: float | None) -> None:
        if state is not None:
            inflight = self.inflight
            self.inflight = inflight - 1
            self.limit.on_sample(time.monotonic() - state, inflight)
