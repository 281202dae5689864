"""The sizing check, as arithmetic the report shows.

Little's law: connections busy at peak ≈ peak acquire rate * p99 hold time. The rate and the
hold time are the declared ones (`PoolConfig.peak_rps`, `hold_time`) or the observed ones,
whichever is larger. The fleet check: `max_size * pods` (replicas plus the rolling update's
surge) against the connections the server accepts (`max_connections` minus reserved slots).
"""

from __future__ import annotations

import math
from typing import Any

from hardened.pool._config import PoolConfig
from hardened.pool._state import PoolStats

__all__ = ["MIN_HOLDS", "fleet", "littles_law", "pods"]

MIN_HOLDS = 20  # observed holds needed before their p99 is used
KUBERNETES_DEFAULT_SURGE = "25%"


def littles_law(config: PoolConfig, stats: PoolStats, now: float) -> tuple[dict[str, Any], str]:
    """The arithmetic, and a problem ('' when the pool is big enough or nothing is known)."""
    observed_rate = stats.peak_rate(now)
    observed_hold = stats.hold_p99() if stats.holds >= MIN_HOLDS else None
    rate, rate_source = _larger(config.peak_rps, "declared peak_rps", observed_rate or None)
    hold, hold_source = _larger(config.hold_time, "declared hold_time", observed_hold)
    evidence: dict[str, Any] = {
        "peak_rps": rate,
        "peak_rps_source": rate_source,
        "observed_peak_rps": observed_rate,
        "hold_p99_ms": None if hold is None else round(hold * 1000, 3),
        "hold_source": hold_source,
        "max_size": config.max_size,
    }
    if rate is None or hold is None:
        evidence["arithmetic"] = None
        evidence["missing"] = [
            what for what, value in (("peak rate", rate), ("p99 hold time", hold)) if value is None
        ]
        return evidence, ""
    needed = rate * hold
    evidence["connections_needed"] = round(needed, 3)
    verdict = "fits in" if needed <= config.max_size else "exceeds"
    evidence["arithmetic"] = (
        f"{rate:g}/s * {hold * 1000:.1f} ms = {needed:.2f} connections busy at peak, "
        f"{verdict} max_size {config.max_size}"
    )
    if needed <= config.max_size:
        return evidence, ""
    return evidence, (
        f"too small for its load: {evidence['arithmetic']}; requests will queue for "
        "connections and time out at peak"
    )


def _larger(
    declared: float | None, label: str, observed: float | None
) -> tuple[float | None, str | None]:
    if declared is None and observed is None:
        return None, None
    if observed is None or (declared is not None and declared >= observed):
        return declared, label
    return observed, "observed"


def pods(replicas: int, max_surge: int | str | None) -> int:
    """Pods that can run at once during a rolling update (Kubernetes rounds a surge % up)."""
    surge = KUBERNETES_DEFAULT_SURGE if max_surge is None else max_surge
    if isinstance(surge, str) and surge.endswith("%"):
        return replicas + math.ceil(replicas * float(surge[:-1]) / 100)
    return replicas + int(surge)


def fleet(
    max_size: int, pod_count: int, pods_source: str, max_connections: int | None, reserved: int
) -> tuple[dict[str, Any], str]:
    """`max_size * pods` against the server's usable connections."""
    total = max_size * pod_count
    evidence: dict[str, Any] = {
        "pods": pod_count,
        "pods_source": pods_source,
        "fleet_connections": total,
        "max_connections": max_connections,
        "reserved_connections": reserved,
    }
    if max_connections is None:
        evidence["arithmetic"] = None
        evidence["missing"] = ["max_connections (read from the server when the pool starts)"]
        return evidence, ""
    usable = max_connections - reserved
    fits = total <= usable
    evidence["arithmetic"] = (
        f"{max_size} * {pod_count} pods = {total} connections "
        f"{'≤' if fits else '>'} {usable} usable (max_connections {max_connections} "
        f"- {reserved} reserved)"
    )
    if fits:
        return evidence, ""
    return evidence, f"the fleet can exhaust the database: {evidence['arithmetic']}"
