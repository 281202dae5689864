"""Lock-free RED families for one process: plain cells written on the loop, exported at scrape.

prometheus-client guards each value with a lock, since threads may share a metric; the RED
middleware writes only from the event loop's thread, where the locks (about 1 µs a request)
buy nothing. These families export the very samples prometheus-client's Counter and Histogram
would (names, label order, ``le`` strings, ``_created``, exemplars). In multiprocess mode the
real classes are used instead: only their per-process files are merged at scrape time.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, metrics
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString

__all__ = ["CountedTiming", "CounterCells", "HistogramCells"]


def _use_created() -> bool:
    """prometheus-client's switch for `_created` samples (env or `disable_created_metrics`)."""
    return bool(getattr(metrics, "_use_created", True))


class CounterCell:
    """One label set of a counter."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        """Add `amount` (never negative: callers count events)."""
        self.value += amount


class HistogramCell:
    """One label set of a histogram: a count per bucket, the sum, the last exemplar per bucket."""

    __slots__ = ("bounds", "counts", "created", "exemplars", "sum")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0.0] * len(bounds)
        self.exemplars: list[Exemplar | None] = [None] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        """Count `amount` in the first bucket whose upper bound is >= it."""
        index = bisect_left(self.bounds, amount)  # the last bound is +Inf
        self.sum += amount
        if not amount <= self.bounds[index]:  # NaN: prometheus-client adds it to the sum only
            return
        self.counts[index] += 1.0
        if exemplar:
            self.exemplars[index] = Exemplar(exemplar, amount, time.time())


class CountedTiming:
    """One request's two cells (its counter and its histogram) updated in one call."""

    __slots__ = ("bounds", "counter", "histogram")

    def __init__(self, counter: CounterCell, histogram: HistogramCell) -> None:
        self.counter = counter
        self.histogram = histogram
        self.bounds = histogram.bounds

    def record(self, amount: float) -> None:
        """Count one request that took `amount` seconds."""
        self.counter.value += 1.0
        histogram = self.histogram
        index = bisect_left(self.bounds, amount)
        histogram.sum += amount
        if amount <= self.bounds[index]:  # NaN: added to the sum only
            histogram.counts[index] += 1.0


class _Cells(Collector):
    kind = ""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        registry.register(self)

    def describe(self) -> list[Metric]:
        return [Metric(self.name, self.documentation, self.kind)]


class CounterCells(_Cells):
    """A labelled counter (`labels(...)` → `CounterCell`), exported as `<name>_total`."""

    kind = "counter"

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        super().__init__(name, documentation, labelnames, registry)
        self._cells: dict[tuple[str, ...], CounterCell] = {}

    def labels(self, *values: str) -> CounterCell:
        """The cell of one label set, created on first use."""
        cell = self._cells.get(values)
        if cell is None:
            cell = self._cells[values] = CounterCell()
        return cell

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.documentation, self.kind)
        created = _use_created()
        for values, cell in list(self._cells.items()):
            labels = dict(zip(self.labelnames, values, strict=True))
            metric.samples.append(Sample(self.name + "_total", labels, cell.value, None, None))
            if created:
                metric.samples.append(Sample(self.name + "_created", dict(labels), cell.created))
        yield metric


class HistogramCells(_Cells):
    """A labelled histogram (`labels(...)` → `HistogramCell`) with fixed bucket bounds."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
        buckets: Sequence[float],
    ) -> None:
        bounds = [float(bound) for bound in buckets]
        if bounds != sorted(bounds):
            raise ValueError("Buckets not in sorted order")
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.bounds = bounds
        to_go = floatToGoString  # the `le` strings prometheus-client writes
        self._le: list[str] = [to_go(bound) for bound in bounds]  # type: ignore[no-untyped-call]
        self._cells: dict[tuple[str, ...], HistogramCell] = {}
        super().__init__(name, documentation, labelnames, registry)

    def labels(self, *values: str) -> HistogramCell:
        """The cell of one label set, created on first use."""
        cell = self._cells.get(values)
        if cell is None:
            cell = self._cells[values] = HistogramCell(self.bounds)
        return cell

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.documentation, self.kind)
        samples = metric.samples
        name = self.name
        created = _use_created()
        for values, cell in list(self._cells.items()):
            series = list(zip(self.labelnames, values, strict=True))
            total = 0.0
            for le, count, exemplar in zip(self._le, cell.counts, cell.exemplars, strict=True):
                total += count
                labels = dict([*series, ("le", le)])
                samples.append(Sample(name + "_bucket", labels, total, None, exemplar))
            samples.append(Sample(name + "_count", dict(series), total))
            if self.bounds[0] >= 0:
                samples.append(Sample(name + "_sum", dict(series), cell.sum))
            if created:
                samples.append(Sample(name + "_created", dict(series), cell.created))
        yield metric
