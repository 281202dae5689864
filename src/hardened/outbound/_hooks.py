"""Events of outbound calls, delivered to hook objects; Prometheus is one subscriber.

Series of `PrometheusHooks` (on the service's registry):

- ``hardened_dependency_calls_total{dependency, outcome}``: outcome is ``success``,
  ``failure``, ``ignored`` (neither: a caller bug, a cancellation) or ``rejected`` (open
  breaker, full bulkhead); one per attempt.
- ``hardened_dependency_retries_total{dependency}``: retries started.
- ``hardened_dependency_breaker_state{dependency, state}``: 1 for the current state.

Failure and slow rates, bulkhead slots in use and the retry budget left are exported as
mechanism state (``hardened_mechanism_state{kind="breaker"|"bulkhead"|"retry_budget"}``).
"""

from __future__ import annotations

import weakref
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from hardened.breaker import BreakerState

__all__ = ["DependencyHooks", "PrometheusHooks", "prometheus_hooks"]


class DependencyHooks(Protocol):
    """Receives a dependency's events; called on the event loop, must not block or raise."""

    def on_call(self, dependency: str, outcome: str, seconds: float) -> None:
        """One attempt ended (`seconds` is 0 for a rejection)."""
        ...

    def on_retry(self, dependency: str, attempt: int, delay: float) -> None:
        """Attempt `attempt` failed; the next starts after `delay` seconds."""
        ...

    def on_state_change(self, dependency: str, old: str, new: str) -> None:
        """The breaker moved from `old` to `new`."""
        ...


class PrometheusHooks:
    """Counts calls by outcome, retries and breaker states on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._calls = Counter(
            "hardened_dependency_calls",
            "Attempts at an outbound dependency, by outcome.",
            ["dependency", "outcome"],
            registry=registry,
        )
        self._retries = Counter(
            "hardened_dependency_retries",
            "Retries started against an outbound dependency.",
            ["dependency"],
            registry=registry,
        )
        self._state = Gauge(
            "hardened_dependency_breaker_state",
            "1 for the breaker's current state, 0 for the others.",
            ["dependency", "state"],
            registry=registry,
        )
        self._children: dict[tuple[str, str], Counter] = {}

    def start(self, dependency: str, state: str) -> None:
        """Export `dependency` from the start: every outcome at 0 and its current state."""
        for outcome in ("success", "failure", "ignored", "rejected"):
            self._children[(dependency, outcome)] = self._calls.labels(dependency, outcome)
        self._retries.labels(dependency)
        self.on_state_change(dependency, state, state)

    def on_call(self, dependency: str, outcome: str, seconds: float) -> None:
        child = self._children.get((dependency, outcome))
        if child is None:
            child = self._children[(dependency, outcome)] = self._calls.labels(dependency, outcome)
        child.inc()

    def on_retry(self, dependency: str, attempt: int, delay: float) -> None:
        self._retries.labels(dependency).inc()

    def on_state_change(self, dependency: str, old: str, new: str) -> None:
        for state in BreakerState:
            self._state.labels(dependency, state.value).set(1.0 if state.value == new else 0.0)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, PrometheusHooks] = (
    weakref.WeakKeyDictionary()
)


def prometheus_hooks(registry: CollectorRegistry) -> PrometheusHooks:
    """The one Prometheus subscriber of `registry` (its series can be registered only once)."""
    hooks = _BY_REGISTRY.get(registry)
    if hooks is None:
        hooks = _BY_REGISTRY[registry] = PrometheusHooks(registry)
    return hooks
