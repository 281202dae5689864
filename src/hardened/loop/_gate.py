"""LoopGate: is the loop watched, how late does it run, what blocked it (gate 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardened.gates import GATE_QUESTIONS, GateResult, Status, Tier
from hardened.loop._monitor import LoopMonitor
from hardened.loop._offload import Offloader

if TYPE_CHECKING:
    from hardened.gates import Installer

__all__ = ["LoopGate"]

RECENT_SHOWN = 10
CAVEATS = (
    "lag is heartbeat lateness: a block shows as at least its length minus one heartbeat "
    "interval, so blocks shorter than block_threshold - interval may go unseen",
    "culprits come from stack samples every watchdog tick: a C call or a GC pass that holds "
    "the GIL stops the watchdog too, so its block is reported without a culprit",
)


class LoopGate:
    """Reads the monitor's evidence; the limits tighten with the tier."""

    name = "loop"

    def __init__(self, monitor: LoopMonitor, offloader: Offloader, service: Installer) -> None:
        self._monitor = monitor
        self._offloader = offloader
        self._service = service

    def check(self, tier: Tier) -> GateResult:
        monitor, config = self._monitor, self._monitor.config
        lag = monitor.lag_summary()
        limit = config.lag_p99_limit(tier)
        recent = monitor.recent_events()
        blocked_now = monitor.blocked_now()
        stalls = monitor.recent_stalls()
        evidence: dict[str, Any] = {
            "monitor": monitor.state,
            "loop": monitor.loop_name,
            "heartbeat_interval_ms": config.interval * 1000,
            "block_threshold_ms": config.block_threshold * 1000,
            "watchdog_tick_ms": config.watchdog_tick * 1000,
            "window_seconds": config.window,
            "lag_beats_in_window": lag["beats"],
            "lag_p50_ms": lag["p50_ms"],
            "lag_p99_ms": lag["p99_ms"],
            "lag_max_ms": lag["max_ms"],
            "lag_p99_limit_ms": round(limit * 1000, 3),
            "blocked_now_ms": None if blocked_now is None else round(blocked_now * 1000, 1),
            "blocked_events_total": monitor.blocked_total,
            "blocked_seconds_total": round(monitor.blocked_seconds, 3),
            "blocked_events_in_window": len(recent),
            "recent_blocked_events": [e.to_json(monitor.root) for e in recent[-RECENT_SHOWN:]],
            "stalls_total": monitor.stalls_total,
            "stalls_in_window": len(stalls),
            "recent_stall_ms": [round(e.duration * 1000, 1) for e in stalls[-RECENT_SHOWN:]],
            "offload_workers": self._offloader.max_workers,
            "offload_busy": self._offloader.busy,
            "offload_abandoned": self._offloader.abandoned,
        }
        caveats = list(CAVEATS)
        problems: list[str] = []
        serving = self._service.serving()
        if not monitor.healthy:
            failure = monitor.watchdog_failure()
            if serving or failure:
                reason = f"the loop monitor is {monitor.state} while serving"
                if failure:
                    reason = f"the loop watchdog failed: {failure}"
                return self._result(Status.FAIL, evidence, [f"fail: {reason}", *caveats])
            caveats.insert(0, "not serving: lag and blocks are observed only while serving")
            return self._result(Status.PASS, evidence, caveats)
        if lag["p99_ms"] is not None and lag["p99_ms"] > limit * 1000:
            problems.append(
                f"lag p99 {lag['p99_ms']} ms over the window exceeds the {tier.value} limit "
                f"of {limit * 1000:.0f} ms"
            )
        if blocked_now is not None:
            problems.append(f"code has held the loop for {blocked_now * 1000:.0f} ms, right now")
        if recent:
            worst = max(recent, key=lambda e: e.duration)
            culprit = worst.culprit.label(monitor.root) if worst.culprit else "unsampled"
            message = (
                f"{len(recent)} blocked event(s) in the last {config.window:.0f}s; "
                f"worst {worst.duration * 1000:.0f} ms in {culprit}"
            )
            if tier is Tier.INTERNAL:
                caveats.insert(0, message)
            else:
                problems.append(message)
        if stalls:
            caveats.insert(
                0,
                f"{len(stalls)} stall(s) in the last {config.window:.0f}s, worst "
                f"{max(e.duration for e in stalls) * 1000:.0f} ms: the loop thread did not get "
                "the CPU (a CPU limit throttling it, or a busy host); no code is to blame",
            )
        if not problems:
            return self._result(Status.PASS, evidence, caveats)
        status = Status.FAIL if tier is Tier.CRITICAL else Status.WARN
        return self._result(status, evidence, [*problems, *caveats])

    def _result(self, status: Status, evidence: dict[str, Any], caveats: list[str]) -> GateResult:
        return GateResult(
            name=self.name,
            question=GATE_QUESTIONS[self.name],
            status=status,
            evidence=evidence,
            caveats=tuple(caveats),
        )
