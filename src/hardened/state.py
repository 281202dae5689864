"""The uniform mechanism-state schema: how every gate's mechanism exports its internal state.

A mechanism registers a *reader* (pulled at each scrape and each `/gates` check) or publishes a
snapshot (pushed when it changes)::

    service.mechanisms.track("pool", "db", lambda: {"in_use": 3, "max_size": 10,
                                                    "acquire_timeouts_total": 2})
    service.mechanisms.publish("breaker", "processor", {"state": "open", "failure_rate": 0.6})

Each field becomes one series, by the type of its value:

* number or bool  → ``hardened_mechanism_state{kind, name, field}`` (a gauge; bools are 0/1)
* name ending ``_total`` (a number) → ``hardened_mechanism_events_total{kind, name, event}``
  (a counter: the value must only grow)
* string → ``hardened_mechanism_info{kind, name, field, value} 1`` (the current value only)

`kind` is the mechanism type (``pool``, ``breaker``, ``bulkhead``, ``retry_budget``, ``loop``,
``shed``, ``shutdown``, ``idempotency`` …); `gate` (default: `kind`) names the gate it
belongs to, so the observe gate can tell which configured gates export no state. Readers run
in the scrape thread: they must be cheap, non-blocking and never await.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hardened.errors import ConfigError

__all__ = ["MechanismStates", "StateReader", "StateValue"]

StateValue = float | int | bool | str
StateReader = Callable[[], Mapping[str, StateValue]]

logger = logging.getLogger("hardened.observe.mechanisms")

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")


@dataclass(slots=True)
class _Entry:
    kind: str
    name: str
    gate: str
    reader: StateReader


class MechanismStates:
    """The registry of every mechanism's state on one service; a Prometheus collector too."""

    def __init__(self, registry: CollectorRegistry | None = None, *, max_fields: int = 2000):
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self._max_fields = max_fields
        self.read_errors = 0
        self.dropped_fields = 0
        if registry is not None:
            registry.register(_StateCollector(self))

    def track(self, kind: str, name: str, reader: StateReader, *, gate: str | None = None) -> None:
        """Register `reader`, called at scrape time for the current state of (`kind`, `name`)."""
        if not _IDENT.match(kind):
            raise ConfigError(f"mechanism kind must match {_IDENT.pattern}, got {kind!r}")
        if not _NAME.match(name):
            raise ConfigError(f"mechanism name must match {_NAME.pattern}, got {name!r}")
        with self._lock:
            self._entries[(kind, name)] = _Entry(kind, name, gate or kind, reader)

    def publish(
        self, kind: str, name: str, fields: Mapping[str, StateValue], *, gate: str | None = None
    ) -> None:
        """Replace the snapshot of (`kind`, `name`) with `fields` (push style)."""
        snapshot = dict(fields)
        self.track(kind, name, lambda: snapshot, gate=gate)

    def forget(self, kind: str, name: str) -> None:
        """Stop exporting (`kind`, `name`) (a component that was torn down)."""
        with self._lock:
            self._entries.pop((kind, name), None)

    def _read(self, entry: _Entry) -> dict[str, StateValue]:
        try:
            fields = dict(entry.reader())
        except Exception:  # a broken reader must not break the scrape or the report
            self.read_errors += 1
            logger.exception("reading the state of %s %r failed", entry.kind, entry.name)
            return {}
        return {key: value for key, value in fields.items() if _IDENT.match(key)}

    def snapshot(self) -> list[dict[str, Any]]:
        """Every mechanism's current state, for `/gates`: kind, name, gate, state."""
        with self._lock:
            entries = list(self._entries.values())
        return [
            {"kind": e.kind, "name": e.name, "gate": e.gate, "state": self._read(e)}
            for e in entries
        ]

    def gates_with_state(self) -> set[str]:
        """Names of the gates that have at least one mechanism exporting state."""
        with self._lock:
            return {entry.gate for entry in self._entries.values()}

    def collect_families(self) -> list[Metric]:
        """The three metric families of the schema, built from a fresh read of every entry."""
        state = GaugeMetricFamily(
            "hardened_mechanism_state",
            "Numeric state of a mechanism (pool, breaker, shedder, loop ...).",
            labels=["kind", "name", "field"],
        )
        events = CounterMetricFamily(
            "hardened_mechanism_events",
            "Monotonic event counts of a mechanism.",
            labels=["kind", "name", "event"],
        )
        info = GaugeMetricFamily(
            "hardened_mechanism_info",
            "Current value of a mechanism's named state (always 1).",
            labels=["kind", "name", "field", "value"],
        )
        budget = self._max_fields
        dropped = 0
        for document in self.snapshot():
            kind, name = document["kind"], document["name"]
            for field, value in document["state"].items():
                if budget <= 0:
                    dropped += 1
                    continue
                budget -= 1
                if isinstance(value, str):
                    info.add_metric([kind, name, field, value[:128]], 1.0)
                elif field.endswith("_total") and not isinstance(value, bool):
                    events.add_metric([kind, name, field[: -len("_total")]], float(value))
                else:
                    state.add_metric([kind, name, field], float(value))
        self.dropped_fields = dropped
        return [state, events, info]


class _StateCollector(Collector):
    def __init__(self, states: MechanismStates) -> None:
        self._states = states

    def collect(self) -> Iterator[Metric]:
        yield from self._states.collect_families()
