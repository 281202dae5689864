"""The observe gate: what it demands per tier, its runtime evidence, multiprocess traps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hardened import GateResult, Service, Status, Tier
from hardened.gates import GATE_QUESTIONS
from hardened.observe import SLO, sweep_dead_processes
from hardened.testing import FakeClock


def _observe(service: Service, tier: str | None = None) -> dict[str, Any]:
    gates: list[dict[str, Any]] = service.report(tier)["gates"]
    return next(g for g in gates if g["name"] == "observe")


class PassingPool:
    """A stand-in pool gate that passes but publishes no mechanism state."""

    name = "pool"

    def check(self, tier: Tier) -> GateResult:
        return GateResult(name="pool", question=GATE_QUESTIONS["pool"], status=Status.PASS)


def test_passes_with_red_slo_and_shedder() -> None:
    """The defaults plus one SLO pass: RED on, burn rates present, the shedder's signal shown."""
    gate = _observe(Service("svc", slos=[SLO(name="availability", objective=0.999)]))
    assert gate["status"] == "pass", gate["caveats"]
    assert gate["evidence"]["shed"]["signal"] == "queue_delay"
    assert gate["evidence"]["shed"]["priority_header_trusted_from"] == "nobody"
    assert gate["evidence"]["slos"][0]["burn_rates"] == {
        "5m": None, "30m": None, "1h": None, "6h": None
    }  # fmt: skip


def test_missing_slo_fails_at_standard_and_warns_at_internal() -> None:
    """No SLO: fail at standard and critical, warn at internal; the reason is in the caveats."""
    service = Service("svc")
    assert _observe(service)["status"] == "fail"
    assert "fail: no SLO declared" in _observe(service)["caveats"]
    assert _observe(service, "internal")["status"] == "warn"


def test_shedder_off_fails_and_observe_off_is_not_configured() -> None:
    """shed=None fails the gate (saying so); observe=None leaves the gate unconfigured."""
    slos = [SLO(name="a", objective=0.99)]
    off = _observe(Service("svc", slos=slos, shed=None))
    assert off["status"] == "fail"
    assert "fail: no load shedder (shed=None)" in off["caveats"]
    unconfigured = _observe(Service("svc", observe=None))
    assert unconfigured["status"] == "fail"
    assert unconfigured["evidence"] == {"configured": False, "reason": "not configured"}


def test_configured_gate_without_state_is_a_warning() -> None:
    """A registered gate whose mechanism exports no state is named; publishing clears it."""
    service = Service("svc", slos=[SLO(name="a", objective=0.99)], pools=False)
    service.gates.register(PassingPool())
    gate = _observe(service)
    assert gate["status"] == "warn"
    assert gate["evidence"]["mechanisms"]["gates_without_state"] == ["pool"]
    service.mechanisms.track("pool", "db", lambda: {"in_use": 1, "max_size": 10})
    assert _observe(service)["status"] == "pass"


def test_fast_burn_is_reported_from_the_in_process_budget() -> None:
    """After an hour with 10 % errors against 99.9 %, the gate warns with the 1 h burn rate."""
    clock = FakeClock(start=0.0)
    service = Service("svc", clock=clock, slos=[SLO(name="a", objective=0.999)])
    metrics = service.observability.metrics
    assert metrics is not None
    for second in range(0, 3600, 2):
        status = 500 if second % 20 == 0 else 200
        metrics.record(method="GET", route="/x", status=status, duration=0.01, now=second)
    clock.advance(3600)
    gate = _observe(service)
    assert gate["evidence"]["slos"][0]["burn_rates"]["1h"] == pytest.approx(100.0, rel=0.01)
    assert gate["status"] == "warn"
    assert any("burns its budget" in c for c in gate["caveats"])


def test_a_few_errors_on_low_traffic_do_not_make_a_burn_verdict() -> None:
    """14 requests, 2 errors: a 140x 1 h burn, but below min_bad_requests there is no warning."""
    clock = FakeClock(start=0.0)
    slo = SLO(name="a", objective=0.999)
    service = Service("svc", clock=clock, slos=[slo])
    metrics = service.observability.metrics
    assert metrics is not None
    for second in range(0, 3600, 257):
        status = 500 if second in (257 * 3, 257 * 9) else 200
        metrics.record(method="GET", route="/x", status=status, duration=0.01, now=second)
    clock.advance(3600)
    gate = _observe(service)
    assert gate["evidence"]["slos"][0]["burn_rates"]["1h"] > 14.4
    assert gate["evidence"]["slos"][0]["min_bad_requests"] == slo.min_bad_requests == 10
    assert not any("burns its budget" in c for c in gate["caveats"])


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_multiprocess_dead_worker_files_are_reported_and_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of a dead worker make the gate warn; the sweep removes its live-gauge files only."""
    dead = _dead_pid()
    for name in (f"counter_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{os.getpid()}.db"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    gate = _observe(Service("svc", slos=[SLO(name="a", objective=0.99)]))
    assert gate["status"] == "warn"
    assert gate["evidence"]["multiprocess"]["dead_pids"] == [dead]
    assert gate["evidence"]["multiprocess"]["dead_pid_files"] == 2
    assert any("not merged" in c for c in gate["caveats"])
    assert sweep_dead_processes(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"counter_{os.getpid()}.db"]
    )
