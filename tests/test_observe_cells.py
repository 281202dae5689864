"""The lock-free RED cells export exactly the samples prometheus-client's classes would."""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from hardened.observe._cells import CounterCells, HistogramCells

BUCKETS = (0.005, 0.01, 0.25, 1.0)
OBSERVED = [
    (("GET", "/a", "2xx"), 0.003, None),
    (("GET", "/a", "2xx"), 0.01, {"trace_id": "ab" * 16}),
    (("GET", "/a", "2xx"), 0.2, None),
    (("POST", "/b", "5xx"), 7.5, {"trace_id": "cd" * 16}),
    (("POST", "/b", "5xx"), 0.0, None),
    (("POST", "/b", "5xx"), math.nan, None),
]


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], Any, Any]]:
    found = []
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                value: Any = "created"
            elif math.isnan(sample.value):
                value = "nan"
            else:
                value = sample.value
            exemplar = sample.exemplar
            shown = None if exemplar is None else (exemplar.labels, exemplar.value)
            found.append((sample.name, sample.labels, value, shown))
    return found


def _fill(counter: Any, histogram: Any) -> None:
    for labels, amount, exemplar in OBSERVED:
        counter.labels(*labels).inc()
        histogram.labels(*labels).observe(amount, exemplar)


def test_cells_match_prometheus_client_samples_and_exposition() -> None:
    """Same observations: same sample names, labels, values, exemplars and exposition lines."""
    reference = CollectorRegistry(auto_describe=True)
    _fill(
        Counter("reqs", "Requests.", ["method", "route", "status"], registry=reference),
        Histogram(
            "dur_seconds",
            "Durations.",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=reference,
        ),
    )
    cells = CollectorRegistry(auto_describe=True)
    _fill(
        CounterCells("reqs", "Requests.", ["method", "route", "status"], cells),
        HistogramCells("dur_seconds", "Durations.", ["method", "route", "status"], cells, BUCKETS),
    )
    assert _samples(cells) == _samples(reference)

    def lines(text: bytes) -> list[str]:
        return [line for line in text.decode().splitlines() if "_created" not in line]

    assert lines(generate_latest(cells)) == lines(generate_latest(reference))
    # OpenMetrics: the same lines, exemplars included (their timestamps aside).
    reference_om = openmetrics_latest(reference)  # type: ignore[no-untyped-call]
    cells_om = openmetrics_latest(cells)  # type: ignore[no-untyped-call]
    assert "trace_id" in cells_om.decode()
    assert [line.rsplit(" ", 1)[0] if "# {" in line else line for line in lines(cells_om)] == [
        line.rsplit(" ", 1)[0] if "# {" in line else line for line in lines(reference_om)
    ]


def test_cells_names_clash_like_prometheus_client() -> None:
    """A second family of the same name on one registry is refused, as prometheus-client does."""
    registry = CollectorRegistry(auto_describe=True)
    CounterCells("reqs", "Requests.", ["method"], registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("reqs", "Again.", ["method"], registry=registry)
