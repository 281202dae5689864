"""The comparisons `make bench` runs, in order. Adding one is adding its module here."""

from __future__ import annotations

from benchmarks._registry import Comparison


def comparisons() -> tuple[Comparison, ...]:
    """Every registered comparison (imported on call, so `import benchmarks` stays light)."""
    from benchmarks import (
        connections,
        edge_overhead,
        idempotency_overhead,
        io_bound,
        outbound_overhead,
        overload,
        payments,
        pool_overhead,
        shutdown,
    )

    return (
        edge_overhead.COMPARISON,
        overload.COMPARISON,
        connections.COMPARISON,
        io_bound.COMPARISON,
        shutdown.COMPARISON,
        outbound_overhead.COMPARISON,
        pool_overhead.COMPARISON,
        idempotency_overhead.COMPARISON,
        payments.COMPARISON,
    )
