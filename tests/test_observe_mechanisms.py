"""The uniform mechanism-state schema: gauges, counters and named states from every mechanism."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from hardened import ConfigError, Service
from hardened.state import MechanismStates


def test_fields_become_gauges_counters_and_info_by_type() -> None:
    """Numbers → state gauge, *_total → events counter, strings → info, bools → 0/1."""
    registry = CollectorRegistry()
    states = MechanismStates(registry)
    pool = {"in_use": 3, "max_size": 10, "acquire_timeouts_total": 2}
    states.track("pool", "db", lambda: pool)
    states.publish("breaker", "processor", {"state": "open", "forced": True}, gate="breaker")
    text = generate_latest(registry).decode()
    assert 'hardened_mechanism_state{field="in_use",kind="pool",name="db"} 3.0' in text
    assert (
        'hardened_mechanism_events_total{event="acquire_timeouts",kind="pool",name="db"} 2.0'
        in (text)
    )
    assert (
        'hardened_mechanism_info{field="state",kind="breaker",name="processor",value="open"} 1.0'
        in text
    )
    assert 'hardened_mechanism_state{field="forced",kind="breaker",name="processor"} 1.0' in text
    pool["in_use"] = 7  # a reader is pulled at each scrape
    assert 'field="in_use",kind="pool",name="db"} 7.0' in generate_latest(registry).decode()
    states.forget("pool", "db")
    assert 'kind="pool"' not in generate_latest(registry).decode()


def test_a_broken_reader_does_not_break_the_scrape_or_the_report() -> None:
    """A reader that raises is counted and skipped; everything else still exports."""
    service = Service("svc")

    def broken() -> dict[str, int]:
        raise RuntimeError("pool vanished")

    service.mechanisms.track("pool", "db", broken)
    text = generate_latest(service.metrics_registry).decode()
    assert 'kind="shed",name="edge"' in text
    assert service.mechanisms.read_errors == 1
    exported = service.report()["gates"][-1]["evidence"]["mechanisms"]["exported"]
    assert {"kind": "pool", "name": "db", "gate": "pool"} in exported


def test_names_are_validated_and_fields_capped() -> None:
    """Bad kinds or names are refused; past the field budget, fields are dropped and counted."""
    states = MechanismStates(max_fields=5)
    with pytest.raises(ConfigError):
        states.track("Pool Kind", "db", dict)
    with pytest.raises(ConfigError):
        states.track("pool", "a b", dict)
    states.publish("pool", "db", {f"f{i}": i for i in range(8)})
    families = states.collect_families()
    assert sum(len(f.samples) for f in families) == 5
    assert states.dropped_fields == 3
