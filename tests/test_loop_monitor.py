"""The lag monitor and its watchdog on real asyncio and uvloop loops, in process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import starlette
import uvloop
from prometheus_client import CollectorRegistry

import hardened
from hardened import ConfigError
from hardened.loop import LoopConfig, LoopMonitor
from hardened.loop._frames import FrameFilter
from hardened.loop._state import OTHER_CULPRIT, LoopMetrics

T = TypeVar("T")
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def run_on(loop: str, scenario: Callable[[], Awaitable[T]]) -> T:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(scenario())  # type: ignore[arg-type]


def blocking_call() -> None:
    time.sleep(0.2)


def spinning_call() -> None:
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        pass


def waiting_in_the_stdlib() -> None:
    threading.Event().wait(0.2)


def line_of(fn: Callable[[], None]) -> int:
    return fn.__code__.co_firstlineno + 1


def bucket(registry: CollectorRegistry, le: str) -> float:
    value = registry.get_sample_value("asyncio_event_loop_lag_seconds_bucket", {"le": le})
    return value or 0.0


async def observe(
    monitor: LoopMonitor, work: Callable[[], Any] | None = None, nap: float = 0.0
) -> None:
    """Let a few beats run, do `work` on the loop (or nap), wait for the next beat."""
    await asyncio.sleep(0.15)
    if work is not None:
        work()
    if nap:
        await asyncio.sleep(nap)
    await monitor.settle()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("work", [blocking_call, spinning_call], ids=["sleep", "spin"])
def test_a_200ms_block_is_one_event_naming_the_line(loop: str, work: Callable[[], None]) -> None:
    """A 200 ms block (sleeping or spinning): one 150-260 ms event, culprit = function and line."""
    registry = CollectorRegistry()
    monitor = LoopMonitor(LoopConfig(), registry=registry)

    async def scenario() -> None:
        async with monitor.running():
            await observe(monitor, work)

    run_on(loop, scenario)
    [event] = monitor.events()
    assert 0.15 <= event.duration <= 0.26
    assert event.culprit is not None
    assert event.culprit.function == work.__name__
    if work is blocking_call:
        assert event.culprit.line == line_of(work)
    else:  # spinning: the `while` line or its body
        assert line_of(work) < event.culprit.line <= line_of(work) + 2
    assert event.culprit.file == __file__
    assert event.culprit_samples >= 1
    assert event.culprit_samples * 2 > event.samples
    assert event.stack[0] == event.culprit
    assert monitor.blocked_total == 1
    assert bucket(registry, "0.25") - bucket(registry, "0.1") == 1
    assert bucket(registry, "+Inf") == bucket(registry, "0.25")
    label = event.culprit.label(monitor.root)
    blocked = registry.get_sample_value("asyncio_event_loop_blocked_total", {"culprit": label})
    assert blocked == 1
    seconds = registry.get_sample_value("asyncio_event_loop_blocked_seconds_total")
    assert seconds == pytest.approx(event.duration)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_awaiting_sleep_is_not_a_block(loop: str) -> None:
    """`await asyncio.sleep(0.3)` lets the heartbeat run: no event, every lag under 100 ms."""
    registry = CollectorRegistry()
    monitor = LoopMonitor(LoopConfig(), registry=registry)

    async def scenario() -> None:
        async with monitor.running():
            await observe(monitor, nap=0.3)

    run_on(loop, scenario)
    assert monitor.events() == []
    summary = monitor.lag_summary()
    assert summary["beats"] >= 5
    assert summary["max_ms"] < 100
    assert bucket(registry, "+Inf") == bucket(registry, "0.1") == summary["beats"]


def test_culprit_is_the_innermost_application_frame_not_the_stdlib() -> None:
    """Blocked inside threading.Event.wait: the culprit is our line that called it."""
    monitor = LoopMonitor(LoopConfig(), registry=CollectorRegistry())

    async def scenario() -> None:
        async with monitor.running():
            await observe(monitor, waiting_in_the_stdlib)

    run_on("asyncio", scenario)
    [event] = monitor.events()
    assert event.culprit is not None
    assert event.culprit.function == "waiting_in_the_stdlib"
    assert event.culprit.line == line_of(waiting_in_the_stdlib)
    assert event.stack[0].file == threading.__file__  # the raw innermost frame is kept too


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_code_that_started_the_loop_is_never_the_culprit(loop: str) -> None:
    """A library callback blocks with no app frame above the loop: it is named, not this test."""
    monitor = LoopMonitor(LoopConfig(), registry=CollectorRegistry())

    async def scenario() -> None:
        async with monitor.running():
            await asyncio.sleep(0.15)
            asyncio.get_running_loop().call_soon(threading.Event().wait, 0.2)
            await asyncio.sleep(0)
            await monitor.settle()

    run_on(loop, scenario)
    [event] = monitor.events()
    assert event.kind == "blocked"
    assert event.culprit is not None
    assert event.culprit.file == threading.__file__
    assert event.culprit.function == "wait"


def test_lag_max_gauge_resets_at_each_scrape() -> None:
    """The max-lag gauge reports the block once, then only what came after."""
    registry = CollectorRegistry()
    monitor = LoopMonitor(LoopConfig(), registry=registry)

    async def scenario() -> None:
        async with monitor.running():
            await observe(monitor, blocking_call)

    run_on("asyncio", scenario)
    first = registry.get_sample_value("asyncio_event_loop_lag_max_seconds")
    second = registry.get_sample_value("asyncio_event_loop_lag_max_seconds")
    assert first is not None
    assert first >= 0.15
    assert second == 0.0


def test_stop_ends_the_heartbeat_and_the_watchdog_thread() -> None:
    """After the lifespan ends no beat runs and no watchdog thread is left."""
    monitor = LoopMonitor(LoopConfig(), registry=CollectorRegistry())

    async def scenario() -> int:
        async with monitor.running():
            await asyncio.sleep(0.2)
            assert monitor.healthy
        beats: int = monitor.lag_summary()["beats"]
        await asyncio.sleep(0.2)
        assert monitor.lag_summary()["beats"] == beats
        return beats

    assert run_on("uvloop", scenario) >= 2
    assert monitor.state == "stopped"
    assert not monitor.healthy
    assert not [t for t in threading.enumerate() if t.name == "hardened-loop-watchdog"]


def test_a_monitor_cannot_start_twice() -> None:
    """Starting a running monitor is a mistake, reported as such."""
    monitor = LoopMonitor(LoopConfig(), registry=CollectorRegistry())

    async def scenario() -> None:
        async with monitor.running():
            with pytest.raises(RuntimeError, match="already running"):
                monitor.start()

    run_on("asyncio", scenario)


def test_culprit_labels_are_capped() -> None:
    """Past `max_culprit_labels` distinct culprits, new ones count under `__other__`."""
    registry = CollectorRegistry()
    metrics = LoopMetrics(registry, max_culprit_labels=3)
    for index in range(5):
        metrics.record_block(0.2, f"app.py:{index} handler")
    metrics.record_block(0.2, "app.py:0 handler")
    samples = {
        s.labels["culprit"]: s.value
        for metric in registry.collect()
        if metric.name == "asyncio_event_loop_blocked"
        for s in metric.samples
        if s.name.endswith("_total")
    }
    assert samples == {
        "app.py:0 handler": 2,
        "app.py:1 handler": 1,
        "app.py:2 handler": 1,
        OTHER_CULPRIT: 2,
    }


def test_frame_filter_tells_application_from_libraries() -> None:
    """Stdlib, site-packages, hardened and frozen frames are libraries; ours are the app's."""
    frames = FrameFilter()
    assert frames.is_app(__file__)
    assert not frames.is_app(threading.__file__)
    assert not frames.is_app(starlette.__file__ or "")
    assert not frames.is_app(hardened.__file__ or "")
    assert not frames.is_app("<frozen importlib._bootstrap>")
    only_apps = FrameFilter([str(Path(__file__).parent / "apps")])
    assert not only_apps.is_app(__file__)
    assert only_apps.is_app(str(Path(__file__).parent / "apps" / "loop_app.py"))


@pytest.mark.parametrize(
    "settings",
    [
        {"interval": 0},
        {"interval": float("inf")},
        {"block_threshold": 0.05},
        {"watchdog_tick": 0.2},
        {"window": 0.1},
        {"max_events": 0},
        {"max_culprit_labels": 0},
        {"offload_workers": 0},
        {"lag_p99_limits": (0.1, 0.2, 0.05)},
        {"lag_p99_limits": (0.1, 0.05)},
    ],
)
def test_invalid_loop_config_is_refused(settings: dict[str, Any]) -> None:
    """Each impossible setting raises ConfigError at construction."""
    with pytest.raises(ConfigError):
        LoopConfig(**settings)
