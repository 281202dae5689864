"""Order statistics for benchmark rounds: percentiles, medians with spread, paired ratios.

A figure in the table is the median over interleaved rounds; its spread is the min–max of the
rounds, so a reader sees at once how much the shared machine moved the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Spread",
    "fmt_ms",
    "fmt_pct",
    "paired_differences",
    "paired_ratios",
    "percentile",
    "spread",
]


def percentile(values: Sequence[float], p: float) -> float:
    """The `p`-th percentile (0–100) by linear interpolation between closest ranks; NaN if empty."""
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    weight = rank - low
    return float(ordered[low] * (1.0 - weight) + ordered[high] * weight)


@dataclass(frozen=True, slots=True)
class Spread:
    """The median of some rounds and the range they covered."""

    median: float
    low: float
    high: float
    n: int

    @property
    def relative(self) -> float:
        """(high − low) / median: the spread as a fraction of the median (NaN when undefined)."""
        if self.n == 0 or self.median == 0 or math.isnan(self.median):
            return math.nan
        return (self.high - self.low) / abs(self.median)

    def fmt(self, digits: int = 1, scale: float = 1.0) -> str:
        """'median (low–high)' scaled by `scale`, or 'n/a' with no rounds."""
        if self.n == 0 or math.isnan(self.median):
            return "n/a"
        m, lo, hi = (x * scale for x in (self.median, self.low, self.high))
        if self.n == 1:
            return f"{m:.{digits}f}"
        return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"

    def as_dict(self) -> dict[str, float | int]:
        """The JSON form."""
        return {"median": self.median, "low": self.low, "high": self.high, "n": self.n}


def spread(values: Sequence[float]) -> Spread:
    """Median and min–max of `values`, NaN values ignored."""
    kept = [float(v) for v in values if not math.isnan(v)]
    if not kept:
        return Spread(math.nan, math.nan, math.nan, 0)
    return Spread(percentile(kept, 50.0), min(kept), max(kept), len(kept))


def paired_ratios(baseline: Sequence[float], candidate: Sequence[float]) -> list[float]:
    """candidate[i] / baseline[i] for each round measured back to back (NaN where undefined).

    Pairing rounds cancels the slow drift of a shared machine better than a ratio of medians.
    """
    if len(baseline) != len(candidate):
        raise ValueError(f"rounds differ: {len(baseline)} baseline vs {len(candidate)} candidate")
    return [c / b if b > 0 else math.nan for b, c in zip(baseline, candidate, strict=True)]


def paired_differences(baseline: Sequence[float], candidate: Sequence[float]) -> list[float]:
    """candidate[i] − baseline[i] for each pair of rounds measured back to back."""
    if len(baseline) != len(candidate):
        raise ValueError(f"rounds differ: {len(baseline)} baseline vs {len(candidate)} candidate")
    return [c - b for b, c in zip(baseline, candidate, strict=True)]


def fmt_pct(fraction: float) -> str:
    """0.123 → '12 %'; NaN → '–'."""
    return "–" if math.isnan(fraction) else f"{100 * fraction:.0f} %"


def fmt_ms(seconds: float, digits: int) -> str:
    """Seconds as milliseconds with `digits` decimals; NaN → '–'."""
    return "–" if math.isnan(seconds) else f"{seconds * 1e3:.{digits}f}"
