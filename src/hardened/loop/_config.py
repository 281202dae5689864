"""LoopConfig: heartbeat, watchdog, window, offload pool and per-tier limits of the loop gate."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardened._fields import check_fields
from hardened.errors import ConfigError
from hardened.gates import Tier

__all__ = ["LoopConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopConfig:
    """How the event loop is watched, and how much lag each tier tolerates.

    A block of `block_threshold + interval` or more is always caught; a shorter one may be
    (the heartbeat measures lateness, so it sees a block minus the part before a beat was due).
    """

    # Heartbeat period: `loop.call_at` every 50 ms; lag = actual - scheduled (Node's default
    # resolution is 10 ms; 50 ms keeps the cost at 20 callbacks a second).
    interval: float = 0.05
    # A heartbeat this late starts stack sampling; on recovery it becomes one blocked event.
    block_threshold: float = 0.1
    # The watchdog thread's tick: how often it checks the heartbeat and samples the stack.
    watchdog_tick: float = 0.01
    # Lag percentiles and "recent" blocked events in the gate cover this many seconds.
    window: float = 300.0
    # Blocked events kept for the report (the counters keep counting past it).
    max_events: int = 50
    # Distinct culprit label values on the blocked counter; later ones count as "__other__".
    max_culprit_labels: int = 20
    # When set, only frames under these path prefixes count as application frames;
    # by default every frame outside the standard library, site-packages and hardened does.
    app_paths: tuple[str, ...] = ()
    # Threads of the offload() pool: sync work runs here, never on the loop.
    offload_workers: int = 8
    # p99 lag over the window allowed at the internal, standard and critical tiers.
    lag_p99_limits: tuple[float, float, float] = (0.25, 0.1, 0.05)

    def __post_init__(self) -> None:
        check_fields(self)
        durations = {
            "interval": self.interval,
            "block_threshold": self.block_threshold,
            "watchdog_tick": self.watchdog_tick,
            "window": self.window,
        }
        for name, value in durations.items():
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be positive finite seconds, not {value}")
        if self.block_threshold <= self.interval:
            raise ConfigError(
                f"block_threshold ({self.block_threshold}s) must exceed the heartbeat interval "
                f"({self.interval}s), or every beat would look blocked"
            )
        if self.watchdog_tick >= self.block_threshold:
            raise ConfigError(
                f"watchdog_tick ({self.watchdog_tick}s) must be shorter than block_threshold "
                f"({self.block_threshold}s) so that a block gets sampled"
            )
        if self.window < 10 * self.interval:
            raise ConfigError(f"window ({self.window}s) must hold at least 10 heartbeats")
        for name, count in (
            ("max_events", self.max_events),
            ("max_culprit_labels", self.max_culprit_labels),
            ("offload_workers", self.offload_workers),
        ):
            if count < 1:
                raise ConfigError(f"{name} must be at least 1, not {count}")
        limits = self.lag_p99_limits
        if len(limits) != 3 or any(not (math.isfinite(x) and x > 0) for x in limits):
            raise ConfigError(f"lag_p99_limits needs three positive seconds, not {limits}")
        if not limits[0] >= limits[1] >= limits[2]:
            raise ConfigError(f"lag_p99_limits must not loosen with the tier: {limits}")

    @property
    def window_beats(self) -> int:
        """How many heartbeats the window holds."""
        return math.ceil(self.window / self.interval)

    def lag_p99_limit(self, tier: Tier) -> float:
        """The p99 lag allowed at `tier`."""
        return self.lag_p99_limits[tier.rank]
