"""The in-process ASGI cost measurement of the edge comparison."""

from __future__ import annotations

import pytest

from benchmarks._asgi import asgi_cpu_us_per_call, call_once, interleaved_costs
from benchmarks.apps import edge


async def test_every_edge_variant_answers_the_same_hello() -> None:
    """Bare, hardened and both peers answer the trivial GET identically, so costs compare."""
    for app in (edge.bare, edge.hardened, edge.exporter, edge.instrumentator):
        assert await call_once(app) == (200, b"hello")


def test_asgi_cost_is_positive_and_needs_calls() -> None:
    """A direct call costs some CPU; zero calls is refused rather than divided by."""
    assert asgi_cpu_us_per_call(edge.bare, 200) > 0
    with pytest.raises(ValueError, match="positive"):
        asgi_cpu_us_per_call(edge.bare, 0)


def test_interleaved_costs_cover_every_app() -> None:
    """Each app gets its own positive best-of cost; nothing to repeat is refused."""
    costs = interleaved_costs({"bare": edge.bare, "hardened": edge.hardened}, 100, repeats=2)
    assert set(costs) == {"bare", "hardened"}
    assert all(0 < cost < float("inf") for cost in costs.values())
    with pytest.raises(ValueError, match="positive"):
        interleaved_costs({"bare": edge.bare}, 100, repeats=0)
