"""Registered background work, the stream helper and the kept report, in process."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from hardened import ConfigError, Service, Tier
from hardened.shutdown import ShutdownConfig, ShutdownManager, ShutdownReport
from hardened.shutdown._background import BackgroundTasks
from hardened.shutdown._report import read_report, write_report


async def test_workers_stop_pulling_and_stubborn_ones_are_cancelled_and_counted() -> None:
    """finish(): polite workers end when told; one still busy is cancelled and requeues."""
    tasks = BackgroundTasks()
    requeued: list[int] = []

    async def polite(stopping: asyncio.Event) -> None:
        await stopping.wait()

    async def busy(stopping: asyncio.Event) -> None:
        job = 1
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            requeued.append(job)
            raise

    tasks.add(polite, name="polite")
    tasks.add(busy, name="busy")
    await tasks.start()
    totals = await tasks.finish(0.2)
    assert (totals.finished, totals.cancelled, totals.ignored_cancellation) == (1, 1, 0)
    assert requeued == [1]
    assert tasks.pending == 0


async def test_spawned_work_is_waited_for_not_dropped() -> None:
    """spawn(): one-off work registered with the manager finishes within the drain."""
    done: list[str] = []

    async def send_receipt() -> None:
        await asyncio.sleep(0.05)
        done.append("receipt")

    tasks = BackgroundTasks()
    tasks.spawn(send_receipt(), name="receipt")
    assert tasks.pending == 1
    totals = await tasks.finish(5.0)
    assert (totals.finished, totals.cancelled, done) == (1, 0, ["receipt"])


def test_workers_register_before_start_with_unique_names() -> None:
    """A duplicate name, or a worker added after start-up, is a configuration error."""
    manager = Service("svc").components.get(ShutdownManager)

    async def worker(stopping: asyncio.Event) -> None:
        await stopping.wait()

    manager.background(worker, name="w")
    with pytest.raises(ConfigError, match="already registered"):
        manager.background(worker, name="w")
    manager.background_tasks.started = True
    with pytest.raises(ConfigError, match="before the service starts"):
        manager.background(worker, name="x")


async def test_stream_relays_until_the_drain_then_sends_the_final_item() -> None:
    """stream(): items flow until the drain begins; then `final` and a clean end."""
    manager = ShutdownManager()

    async def endless() -> AsyncIterator[str]:
        n = 0
        while True:
            n += 1
            yield f"tick {n}"
            await asyncio.sleep(0.01)

    received: list[str] = []
    async with asyncio.timeout(10):
        async for item in manager.stream(endless(), final="bye"):
            received.append(item)
            if len(received) == 3:
                manager.announce_draining()
    assert received[:3] == ["tick 1", "tick 2", "tick 3"]
    assert received[-1] == "bye"
    assert len(received) <= 5


async def test_stream_of_a_finite_source_ends_with_the_source() -> None:
    """A source that ends before the drain ends the stream without the final item."""
    manager = ShutdownManager()

    async def two() -> AsyncIterator[int]:
        yield 1
        yield 2

    assert [item async for item in manager.stream(two(), final=99)] == [1, 2]


def test_report_is_kept_and_shown_by_the_next_process(tmp_path: Path) -> None:
    """The report written at exit is the next process's `last_shutdown` evidence."""
    path = tmp_path / "termination-log"
    report = ShutdownReport(
        signal="SIGTERM", started_wall=1.0, deregistration_delay_s=0, drain_timeout_s=17
    )
    report.cancelled, report.outcome = 2, "cut"
    write_report(report, path)
    assert len(path.read_bytes()) <= 4096
    assert read_report(path) == json.loads(path.read_text())
    service = Service("svc", shutdown=ShutdownConfig(report_path=path))
    evidence = service.gates.gate("shutdown").check(Tier.STANDARD).evidence
    assert evidence["last_shutdown"]["cancelled"] == 2
    assert evidence["last_shutdown"]["outcome"] == "cut"
    assert report.line().startswith('shutdown-report {"signal":"SIGTERM"')


async def test_stream_cancelled_mid_wait_leaves_no_task_reading_the_source() -> None:
    """A client that goes away mid-stream leaves no orphan task behind the stream."""
    manager = ShutdownManager()

    async def slow_source() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(60)
        yield 2

    async def consume() -> None:
        async for _ in manager.stream(slow_source()):
            pass

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


STATE, INFO = "hardened_mechanism_state", "hardened_mechanism_info"
LABELS = 'kind="shutdown",name="process"'


def test_phase_and_budget_are_metrics_in_the_service_registry() -> None:
    """The service's own registry carries the shutdown phase and every budget term."""
    service = Service("svc", shutdown=ShutdownConfig(orchestrated=True))
    manager = service.components.get(ShutdownManager)
    text = generate_latest(service.metrics_registry).decode()
    assert f'{INFO}{{field="phase",kind="shutdown",name="process",value="serving"}} 1.0' in text
    assert f'{STATE}{{field="deregistration_delay_seconds",{LABELS}}} 5.0' in text
    assert f'{STATE}{{field="total_seconds",{LABELS}}} 30.0' in text
    manager.begin(
        ShutdownReport(
            signal="SIGTERM", started_wall=1.0, deregistration_delay_s=5, drain_timeout_s=17
        )
    )
    assert service.readiness() == (False, "draining")
    text = generate_latest(service.metrics_registry).decode()
    assert f'{INFO}{{field="phase",{LABELS},value="deregistering"}} 1.0' in text
    manager.announce_draining()
    assert (
        f'{INFO}{{field="phase",{LABELS},value="draining"}} 1.0'
        in generate_latest(service.metrics_registry).decode()
    )


def test_building_a_service_reads_no_manifest() -> None:
    """Nothing is read at construction (import time); the manifest is read when checked."""
    manifest = Path(__file__).parent.parent / "examples/payments_api/deploy/kubernetes"
    service = Service("svc", shutdown=ShutdownConfig(manifest=manifest / "deployment.yaml"))
    manager = service.components.get(ShutdownManager)
    assert manager._budget is None
    assert service.gates.gate("shutdown").check(Tier.STANDARD).evidence["budget"]["fits"]
    assert manager._budget is not None
