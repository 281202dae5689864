"""The benchmark harness's statistics: percentiles, medians with spread, paired ratios."""

from __future__ import annotations

import math

import pytest

from benchmarks._stats import (
    fmt_ms,
    fmt_pct,
    paired_differences,
    paired_ratios,
    percentile,
    spread,
)


def test_percentile_interpolates_between_ranks() -> None:
    """p50 of an even count is the mean of the middle two; p0 and p100 are the extremes."""
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(list(range(101)), 99) == 99.0


def test_percentile_of_nothing_is_nan_and_bad_p_raises() -> None:
    """An empty sample has no percentile; p outside 0..100 is a caller error."""
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_spread_reports_median_and_range_ignoring_nan() -> None:
    """The spread of rounds is their median and min–max; NaN rounds do not count."""
    result = spread([10.0, 12.0, math.nan, 11.0, 30.0])
    assert (result.median, result.low, result.high, result.n) == (11.5, 10.0, 30.0, 4)
    assert result.relative == pytest.approx(20.0 / 11.5)
    assert result.fmt(1) == "11.5 (10.0–30.0)"
    assert spread([2.0]).fmt(2, scale=1e3) == "2000.00"
    assert spread([]).fmt() == "n/a"


def test_paired_ratios_divide_round_by_round() -> None:
    """Each candidate round is divided by the baseline round measured next to it."""
    assert paired_ratios([10.0, 20.0], [11.0, 18.0]) == [1.1, 0.9]
    assert math.isnan(paired_ratios([0.0], [5.0])[0])
    with pytest.raises(ValueError, match="rounds differ"):
        paired_ratios([1.0], [1.0, 2.0])


def test_paired_differences_subtract_round_by_round() -> None:
    """The extra cost per round is the candidate minus the baseline of the same round."""
    assert paired_differences([50.0, 60.0], [55.0, 58.0]) == [5.0, -2.0]
    with pytest.raises(ValueError, match="rounds differ"):
        paired_differences([], [1.0])


def test_formatting_shows_a_dash_for_missing_figures() -> None:
    """Percent and millisecond cells print a dash, not 'nan', when there is no figure."""
    assert fmt_pct(0.123) == "12 %"
    assert fmt_ms(0.0042, 1) == "4.2"
    assert fmt_pct(math.nan) == "–"
    assert fmt_ms(math.nan, 0) == "–"
