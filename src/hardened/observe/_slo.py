"""In-process error budget: a ring of (good, total) per 10 s slot over 6 h, and burn rates.

burn(w) = (bad / total over the last w) / (1 - objective). Per process by design: it feeds the
gate and the shedder's evidence; the fleet figure comes from Prometheus through the generated
rules, which compute the same ratio over the same windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hardened.observe._config import SLO

__all__ = ["BURN_WINDOWS", "SLOT_SECONDS", "SLOCollector", "SLOTracker", "window_name"]

SLOT_SECONDS = 10
BURN_WINDOWS: tuple[int, ...] = (300, 1800, 3600, 21600)  # 5m, 30m, 1h, 6h
_SLOTS = max(BURN_WINDOWS) // SLOT_SECONDS + 1  # the longest window plus the current slot


def window_name(seconds: int) -> str:
    """Prometheus duration notation: 300 → '5m', 3600 → '1h', 86400 → '1d'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class SLOTracker:
    """Good and total counts of one SLO in 10 s slots; `burn_rate(window)` over the last slots."""

    __slots__ = ("_good", "_ids", "_total", "slo")

    def __init__(self, slo: SLO) -> None:
        self.slo = slo
        self._ids = [-1] * _SLOTS
        self._good = [0] * _SLOTS
        self._total = [0] * _SLOTS

    def record(self, now: float, good: bool) -> None:
        """Count one request at monotonic time `now`."""
        slot = int(now // SLOT_SECONDS)
        index = slot % _SLOTS
        if self._ids[index] != slot:
            self._ids[index] = slot
            self._good[index] = 0
            self._total[index] = 0
        self._total[index] += 1
        if good:
            self._good[index] += 1

    def counts(self, now: float, window: int) -> tuple[int, int]:
        """(good, total) over the slots that end within the last `window` seconds."""
        current = int(now // SLOT_SECONDS)
        first = current - window // SLOT_SECONDS
        good = total = 0
        for index, slot in enumerate(self._ids):
            if first <= slot <= current:
                good += self._good[index]
                total += self._total[index]
        return good, total

    def burn_rate(self, now: float, window: int) -> float:
        """Error ratio over `window` divided by the error budget; NaN with no traffic."""
        good, total = self.counts(now, window)
        if total == 0:
            return math.nan
        return ((total - good) / total) / self.slo.error_budget

    def burn_rates(self, now: float) -> dict[str, float | None]:
        """Burn rate per window name (None where there was no traffic), for the gate."""
        rates: dict[str, float | None] = {}
        for window in BURN_WINDOWS:
            rate = self.burn_rate(now, window)
            rates[window_name(window)] = None if math.isnan(rate) else round(rate, 4)
        return rates


class SLOCollector(Collector):
    """Exports `slo_objective{slo}` and `slo_burn_rate{slo, window}` at scrape time."""

    def __init__(self, trackers: tuple[SLOTracker, ...], monotonic: Callable[[], float]) -> None:
        self._trackers = trackers
        self._monotonic = monotonic

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._monotonic()
        objective = GaugeMetricFamily(
            "slo_objective", "Target fraction of good requests.", labels=["slo", "kind"]
        )
        burn = GaugeMetricFamily(
            "slo_burn_rate",
            "Error budget burn rate in this process (1 = spending exactly the budget).",
            labels=["slo", "window"],
        )
        for tracker in self._trackers:
            objective.add_metric([tracker.slo.name, tracker.slo.kind], tracker.slo.objective)
            for window in BURN_WINDOWS:
                burn.add_metric(
                    [tracker.slo.name, window_name(window)], tracker.burn_rate(now, window)
                )
        yield objective
        yield burn
